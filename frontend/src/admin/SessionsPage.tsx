import { FormEvent, useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router";

import { AdminSession, countText, Page } from "./api";
import { usePageParam, describeUserAgent, Pagination, useAdmin } from "./common";
import { adminErrorMessage } from "../ui/messages";
import { SessionTable } from "./UserPage";
import { ErrorAlert } from "../ui/Alert";

const PAGE_SIZE = 25;

export default function SessionsPage() {
  const { admin, sensitive, handleAuthFailure } = useAdmin();
  const [params, setParams] = useSearchParams();
  const user = params.get("user") ?? "";
  const [pageNo, turnPage] = usePageParam();
  const [filter, setFilter] = useState(user);
  const [page, setPage] = useState<Page<AdminSession> | null>(null);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setPage(await admin.sessions({ user: user || undefined, page: pageNo, pageSize: PAGE_SIZE }));
      setError("");
    } catch (e) {
      if (!handleAuthFailure(e)) setError(adminErrorMessage(e));
    }
  }, [admin, user, pageNo, handleAuthFailure]);

  useEffect(() => {
    void load();
  }, [load]);

  function onFilter(event: FormEvent) {
    event.preventDefault();
    const next = new URLSearchParams();
    if (filter.trim()) next.set("user", filter.trim());
    setParams(next);
  }

  async function end(s: AdminSession) {
    setBusy(true);
    setNotice("");
    setError("");
    try {
      await sensitive(() => admin.endSession(s.id));
      setNotice(`Ended the session of ${s.user?.username ?? "a deleted user"} in ${describeUserAgent(s.userAgent)}.`);
    } catch (e) {
      if (!handleAuthFailure(e)) setError(adminErrorMessage(e));
    } finally {
      setBusy(false);
      await load();
    }
  }

  return (
    <div>
      <div className="d-flex flex-wrap align-items-center gap-3 mb-3">
        <h1 className="h3 mb-0">Sessions</h1>
        {page && <span data-testid="session-count">{countText(page)} signed in</span>}
      </div>
      <p>Every live signed-in session, the most recently active first.</p>
      <form className="row g-2 align-items-end mb-3" onSubmit={onFilter} role="search" aria-label="Sessions">
        <div className="col-12 col-sm-6 col-md-4">
          <label htmlFor="session-user" className="form-label">
            Only the sessions of (username)
          </label>
          <input id="session-user" className="form-control" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </div>
        <div className="col-auto">
          <button type="submit" className="btn btn-outline-primary">
            Filter
          </button>
        </div>
      </form>
      {notice && (
        <div className="alert alert-success" role="status">
          {notice}
        </div>
      )}
      {error && (
        <ErrorAlert>
          {error}
        </ErrorAlert>
      )}
      {page && <SessionTable sessions={page.results} busy={busy} onEnd={(s) => void end(s)} showUser />}
      {page && page.count > PAGE_SIZE && (
        <Pagination
          page={pageNo}
          pageSize={PAGE_SIZE}
          count={page.count}
          estimate={page.countIsEstimate}
          label="Sessions"
          onPage={turnPage}
        />
      )}
    </div>
  );
}
