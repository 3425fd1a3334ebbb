// Pieces every admin page uses: the context (who is signed in, the API,
// the re-authentication wrapper), pagination, confirmation, times, errors.

import { createContext, ReactNode, useContext, useRef } from "react";
import { useSearchParams } from "react-router";

import { ApiClient } from "../api/client";
import { absoluteTime, relativeTime } from "../account/describe";
import { Modal } from "../ui/Modal";
import { AdminApi } from "./api";

export interface AdminContextValue {
  api: ApiClient;
  admin: AdminApi;
  /** The signed-in staff user. */
  me: { username: string; isSuperuser: boolean };
  /** Runs an action that needs a recent sign-in, asking for the password when needed. */
  sensitive: <T>(action: () => Promise<T>) => Promise<T>;
  /** Call with any failure: returns true when it meant "signed out" or "not staff" (handled). */
  handleAuthFailure: (e: unknown) => boolean;
}

export const AdminContext = createContext<AdminContextValue | null>(null);

export function useAdmin(): AdminContextValue {
  const v = useContext(AdminContext);
  if (!v) throw new Error("useAdmin outside AdminContext");
  return v;
}

/** A time as "3 minutes ago", the exact time in its tooltip and for screen readers. */
export function When({ iso, empty = "never" }: { iso: string | null | undefined; empty?: string }) {
  if (!iso) return <span>{empty}</span>;
  return (
    <time dateTime={iso} title={absoluteTime(iso)}>
      {relativeTime(iso)}
    </time>
  );
}

/** Previous / next, the page number and the total ("about N" when estimated). */
export function Pagination({
  page,
  pageSize,
  count,
  estimate,
  label,
  onPage,
}: {
  page: number;
  pageSize: number;
  count: number;
  estimate: boolean;
  label: string;
  onPage: (page: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(count / pageSize));
  const about = estimate ? "about " : "";
  return (
    <nav className="d-flex flex-wrap align-items-center gap-2 mt-2" aria-label={`${label} pages`}>
      <button type="button" className="btn btn-outline-secondary btn-sm" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span data-testid="page-status">
        Page {page.toLocaleString("en")} of {about}
        {pages.toLocaleString("en")}
      </span>
      <button
        type="button"
        className="btn btn-outline-secondary btn-sm"
        disabled={!estimate && page >= pages}
        onClick={() => onPage(page + 1)}
      >
        Next
      </button>
    </nav>
  );
}

/**
 * The list's filters and page live in the URL (a reload or a shared link
 * shows the same page): the current page, and a function to turn it.
 */
export function usePageParam(): [number, (page: number) => void] {
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number(params.get("page")) || 1);
  return [
    page,
    (p: number) => {
      const next = new URLSearchParams(params);
      next.set("page", String(p));
      setParams(next);
    },
  ];
}

/** A modal asking to confirm a destructive action. */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  busy,
  onConfirm,
  onCancel,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  return (
    <Modal
      id="confirm"
      role="alertdialog"
      title={title}
      body={children}
      focus={cancel}
      onCancel={onCancel}
      footer={
        <>
          <button type="button" className="btn btn-outline-secondary" ref={cancel} onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className="btn btn-danger" disabled={busy} onClick={onConfirm}>
            {busy ? "Working…" : confirmLabel}
          </button>
        </>
      }
    />
  );
}

/** "Firefox 140 on Linux" with the raw User-Agent in the tooltip. */
export { describeUserAgent } from "../account/describe";
