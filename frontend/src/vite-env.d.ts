/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_API_BASE?: string;
  readonly VITE_CSRF_MODE?: "cookie" | "header";
  readonly VITE_CREDENTIALS?: "same-origin" | "include";
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
