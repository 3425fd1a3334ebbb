import { ApiError } from "../api/client";

/** What a person should read for a failed account (or admin) action. */
export function accountErrorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.isNetworkError) return "Cannot reach the server. Check your connection and try again.";
    if (e.code === "session_not_found") return "That session has already ended.";
    if (e.code === "throttled") return "Too many wrong passwords. Please wait a moment and try again.";
    if (e.status === 503) return "The server is busy. Please try again in a moment.";
    return e.detail;
  }
  return "Unexpected error.";
}
