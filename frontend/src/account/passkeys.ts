// The browser side of WebAuthn: the server's options in, the credential's
// JSON out, using the browser's own JSON helpers (no base64 by hand).

/** Whether this browser can register and use passkeys here. */
export function passkeysSupported(): boolean {
  return (
    typeof window !== "undefined" &&
    window.isSecureContext &&
    typeof PublicKeyCredential !== "undefined" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
  );
}

/** A WebAuthn prompt that ended without a credential, in words a person can act on. */
export class PasskeyPromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PasskeyPromptError";
  }
}

function promptError(e: unknown, registering: boolean): Error {
  if (e instanceof DOMException) {
    if (e.name === "NotAllowedError" || e.name === "AbortError")
      return new PasskeyPromptError(
        registering
          ? "The passkey was not created: the prompt was closed or timed out."
          : "No passkey was used: the prompt was closed or timed out, or this device has no passkey for this site.",
      );
    if (e.name === "InvalidStateError")
      return new PasskeyPromptError("This device already holds a passkey for your account.");
    if (e.name === "SecurityError")
      return new PasskeyPromptError("Passkeys cannot be used on this address (the site's domain is not allowed).");
    return new PasskeyPromptError(`The passkey prompt failed: ${e.message}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** Creates a credential for these creation options; resolves to its JSON for the server. */
export async function createPasskey(options: PublicKeyCredentialCreationOptionsJSON): Promise<unknown> {
  try {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential | null;
    if (!credential) throw new PasskeyPromptError("The passkey was not created.");
    return credential.toJSON();
  } catch (e) {
    throw promptError(e, true);
  }
}

/** Signs these request options with a passkey; resolves to the assertion's JSON for the server. */
export async function signWithPasskey(options: PublicKeyCredentialRequestOptionsJSON): Promise<unknown> {
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential | null;
    if (!credential) throw new PasskeyPromptError("No passkey was used.");
    return credential.toJSON();
  } catch (e) {
    throw promptError(e, false);
  }
}

/** A name for a new passkey, from what the browser says about this device. */
export function suggestedPasskeyName(userAgent: string): string {
  const os = /Android/.test(userAgent)
    ? "Android"
    : /iPhone|iPad/.test(userAgent)
      ? "iPhone"
      : /Mac OS X/.test(userAgent)
        ? "Mac"
        : /Windows/.test(userAgent)
          ? "Windows"
          : /Linux/.test(userAgent)
            ? "Linux"
            : "";
  const browser = /Edg\//.test(userAgent)
    ? "Edge"
    : /Firefox\//.test(userAgent)
      ? "Firefox"
      : /Chrome\//.test(userAgent)
        ? "Chrome"
        : /Safari\//.test(userAgent)
          ? "Safari"
          : "";
  return [browser, os].filter(Boolean).join(" on ") || "Passkey";
}
