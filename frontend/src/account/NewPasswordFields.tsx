import { FieldProblem } from "../api/client";

type Props = {
  /** Prefix of the element ids ("" on the Account page, "reset-" on the reset page). */
  idPrefix: string;
  /** `data-testid` of the validators' messages. */
  problemsTestId: string;
  value: string;
  onChange: (v: string) => void;
  confirm: string;
  onConfirmChange: (v: string) => void;
  /** The validators' messages for the new password. */
  problems: FieldProblem[];
  /** Why the repeated password is refused (they differ), or "". */
  confirmError: string;
  autoFocus?: boolean;
};

/** A new password and its repetition, with the rules stated and every refusal next to its field. */
export default function NewPasswordFields(p: Props) {
  const id = (name: string) => `${p.idPrefix}${name}`;
  return (
    <>
      <div className="mb-3">
        <label htmlFor={id("new-password")} className="form-label">
          New password
        </label>
        <input
          id={id("new-password")}
          type="password"
          className={`form-control${p.problems.length ? " is-invalid" : ""}`}
          autoComplete="new-password"
          autoFocus={p.autoFocus}
          value={p.value}
          onChange={(e) => p.onChange(e.target.value)}
          aria-invalid={p.problems.length ? true : undefined}
          aria-describedby={
            p.problems.length ? `${id("new-password-help")} ${id("new-password-errors")}` : id("new-password-help")
          }
        />
        <div id={id("new-password-help")} className="form-text">
          At least 8 characters; not a common password, not only digits, not like your username.
        </div>
        {p.problems.length > 0 && (
          <ul id={id("new-password-errors")} className="invalid-feedback d-block mb-0 ps-3" data-testid={p.problemsTestId}>
            {p.problems.map((x) => (
              <li key={x.code + x.message}>{x.message}</li>
            ))}
          </ul>
        )}
      </div>
      <div className="mb-3">
        <label htmlFor={id("confirm-password")} className="form-label">
          New password again
        </label>
        <input
          id={id("confirm-password")}
          type="password"
          className={`form-control${p.confirmError ? " is-invalid" : ""}`}
          autoComplete="new-password"
          value={p.confirm}
          onChange={(e) => p.onConfirmChange(e.target.value)}
          aria-invalid={p.confirmError ? true : undefined}
          aria-describedby={p.confirmError ? id("confirm-password-error") : undefined}
        />
        {p.confirmError && (
          <div id={id("confirm-password-error")} className="invalid-feedback">
            {p.confirmError}
          </div>
        )}
      </div>
    </>
  );
}
