import { ReactNode } from "react";

/** The one error alert of the SPA and the admin (announced to screen readers). */
export function ErrorAlert({ children, testId, className }: { children: ReactNode; testId?: string; className?: string }) {
  return (
    <div className={`alert alert-danger${className ? ` ${className}` : ""}`} role="alert" data-testid={testId}>
      {children}
    </div>
  );
}
