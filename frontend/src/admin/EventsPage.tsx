import { FormEvent, useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router";

import { AdminEvent, countText, Page } from "./api";
import { usePageParam, Pagination, useAdmin, When } from "./common";
import { adminErrorMessage } from "../ui/messages";
import { ErrorAlert } from "../ui/Alert";

const PAGE_SIZE = 50;

export default function EventsPage() {
  const { admin, handleAuthFailure } = useAdmin();
  const [params, setParams] = useSearchParams();
  const user = params.get("user") ?? "";
  const kind = params.get("kind") ?? "";
  const [pageNo, turnPage] = usePageParam();
  const [userFilter, setUserFilter] = useState(user);
  const [kindFilter, setKindFilter] = useState(kind);
  const [page, setPage] = useState<Page<AdminEvent> | null>(null);
  const [error, setError] = useState("");

  const load = useCallback(async () => {
    try {
      setPage(await admin.events({ user: user || undefined, kind: kind || undefined, page: pageNo, pageSize: PAGE_SIZE }));
      setError("");
    } catch (e) {
      if (!handleAuthFailure(e)) setError(adminErrorMessage(e));
    }
  }, [admin, user, kind, pageNo, handleAuthFailure]);

  useEffect(() => {
    void load();
  }, [load]);

  function onFilter(event: FormEvent) {
    event.preventDefault();
    const next = new URLSearchParams();
    if (userFilter.trim()) next.set("user", userFilter.trim());
    if (kindFilter.trim()) next.set("kind", kindFilter.trim());
    setParams(next);
  }

  return (
    <div>
      <div className="d-flex flex-wrap align-items-center gap-3 mb-3">
        <h1 className="h3 mb-0">Events</h1>
        {page && <span>{countText(page)} recorded</span>}
      </div>
      <p>The audit trail, newest first: sign-ins and failures, throttling, and every change an operator made.</p>
      <form className="row g-2 align-items-end mb-3" onSubmit={onFilter} role="search" aria-label="Events">
        <div className="col-6 col-md-3">
          <label htmlFor="event-user" className="form-label">
            User (who acted, or whom it concerns)
          </label>
          <input id="event-user" className="form-control" value={userFilter} onChange={(e) => setUserFilter(e.target.value)} />
        </div>
        <div className="col-6 col-md-3">
          <label htmlFor="event-kind" className="form-label">
            Kind (e.g. login_failed)
          </label>
          <input id="event-kind" className="form-control" value={kindFilter} onChange={(e) => setKindFilter(e.target.value)} />
        </div>
        <div className="col-auto">
          <button type="submit" className="btn btn-outline-primary">
            Filter
          </button>
        </div>
      </form>
      {error && (
        <ErrorAlert>
          {error}
        </ErrorAlert>
      )}
      {page && page.results.length === 0 && <p>No events match.</p>}
      {page && page.results.length > 0 && (
        <div className="table-responsive">
          <table className="table table-sm align-middle" data-testid="events-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">By</th>
                <th scope="col">Concerning</th>
                <th scope="col" className="d-none d-md-table-cell">
                  From
                </th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {page.results.map((e) => (
                <tr key={e.id}>
                  <td>
                    <When iso={e.at} />
                  </td>
                  <td>
                    {e.kind}
                    {e.count > 1 && <span className="badge text-bg-warning ms-1">×{e.count}</span>}
                  </td>
                  <td>{e.actor ?? ""}</td>
                  <td>{e.target ?? ""}</td>
                  <td className="d-none d-md-table-cell">{e.clientIp ?? ""}</td>
                  <td className="text-break">{e.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && page.count > PAGE_SIZE && (
        <Pagination
          page={pageNo}
          pageSize={PAGE_SIZE}
          count={page.count}
          estimate={page.countIsEstimate}
          label="Events"
          onPage={turnPage}
        />
      )}
    </div>
  );
}
