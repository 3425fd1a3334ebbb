import { FormEvent, ReactNode, RefObject, useEffect } from "react";

/**
 * The one modal shell of the SPA and the admin: a backdrop, a dialog named by
 * its title and described by its body, Escape to cancel, focus on `focus`
 * when it opens. With `onSubmit` the content is a form (Enter submits).
 */
export function Modal({
  id,
  role = "dialog",
  title,
  body,
  footer,
  onCancel,
  onSubmit,
  focus,
  bodyId,
}: {
  /** Prefix of the title's id (`${id}-title`) and of `data-testid` (`${id}-dialog`). */
  id: string;
  /** `alertdialog` for a confirmation that interrupts. */
  role?: "dialog" | "alertdialog";
  title: ReactNode;
  body: ReactNode;
  footer: ReactNode;
  onCancel: () => void;
  onSubmit?: (event: FormEvent) => void;
  focus: RefObject<HTMLElement | null>;
  /** The element that describes the dialog (default: the whole body). */
  bodyId?: string;
}) {
  useEffect(() => {
    focus.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onCancel();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onCancel, focus]);
  const describedBy = bodyId ?? `${id}-body`;
  const inner = (
    <>
      <div className="modal-header">
        <h2 className="modal-title h5" id={`${id}-title`}>
          {title}
        </h2>
      </div>
      <div className="modal-body" id={bodyId ? undefined : `${id}-body`}>
        {body}
      </div>
      <div className="modal-footer">{footer}</div>
    </>
  );
  return (
    <>
      <div className="modal-backdrop show" />
      <div
        className="modal d-block"
        role={role}
        aria-modal="true"
        aria-labelledby={`${id}-title`}
        aria-describedby={describedBy}
        data-testid={`${id}-dialog`}
      >
        <div className="modal-dialog">
          {onSubmit ? (
            <form className="modal-content" onSubmit={onSubmit} noValidate>
              {inner}
            </form>
          ) : (
            <div className="modal-content">{inner}</div>
          )}
        </div>
      </div>
    </>
  );
}
