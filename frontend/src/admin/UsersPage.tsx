import { FormEvent, useCallback, useEffect, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { AdminUser, countText, Page, UserFilters } from "./api";
import { ConfirmDialog, Pagination, useAdmin, When } from "./common";
import { adminErrorMessage } from "../ui/messages";
import { ErrorAlert } from "../ui/Alert";

const PAGE_SIZE = 25;

/** The columns that sort, as the API names them. */
const SORTABLE: [string, string][] = [
  ["username", "Username"],
  ["dateJoined", "Joined"],
  ["lastLogin", "Last login"],
];

function flag(v: string | null): boolean | undefined {
  return v === "true" ? true : v === "false" ? false : undefined;
}

type Bulk = "deactivate" | "endSessions";

export default function UsersPage() {
  const { admin, sensitive, handleAuthFailure, me } = useAdmin();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const filters: UserFilters = {
    search: params.get("search") ?? undefined,
    isActive: flag(params.get("isActive")),
    isStaff: flag(params.get("isStaff")),
    isSuperuser: flag(params.get("isSuperuser")),
    ordering: params.get("ordering") ?? "-dateJoined",
    page: Math.max(1, Number(params.get("page")) || 1),
    pageSize: PAGE_SIZE,
  };
  const key = params.toString();
  const [page, setPage] = useState<Page<AdminUser> | null>(null);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [search, setSearch] = useState(filters.search ?? "");
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [bulk, setBulk] = useState<Bulk | null>(null);
  const [busy, setBusy] = useState(false);
  const [adding, setAdding] = useState(false);

  const load = useCallback(async () => {
    try {
      setPage(await admin.users(filters));
      setError("");
    } catch (e) {
      if (!handleAuthFailure(e)) setError(adminErrorMessage(e));
    }
    // `key` stands for every filter: the URL holds them all.
  }, [admin, key, handleAuthFailure]);

  useEffect(() => {
    void load();
    setSelected(new Set());
  }, [load]);

  /** New filters: back to page 1 (except when turning pages). */
  function update(changes: Record<string, string | undefined>) {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined || v === "") next.delete(k);
      else next.set(k, v);
    }
    if (!("page" in changes)) next.delete("page");
    setParams(next);
  }

  function onSearch(event: FormEvent) {
    event.preventDefault();
    update({ search: search.trim() });
  }

  function sortBy(field: string) {
    const current = filters.ordering ?? "-dateJoined";
    update({ ordering: current === field ? `-${field}` : field });
  }

  function toggle(id: number) {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  }

  async function runBulk(kind: Bulk) {
    if (!page) return;
    setBusy(true);
    setNotice("");
    setError("");
    const chosen = page.results.filter((u) => selected.has(u.id));
    const failures: string[] = [];
    let done = 0;
    for (const u of chosen) {
      try {
        if (kind === "deactivate") await sensitive(() => admin.updateUser(u.id, { isActive: false }));
        else await sensitive(() => admin.endUserSessions(u.id));
        done += 1;
      } catch (e) {
        if (handleAuthFailure(e)) break;
        failures.push(`${u.username}: ${adminErrorMessage(e)}`);
      }
    }
    setBusy(false);
    setBulk(null);
    const what = kind === "deactivate" ? "Deactivated" : "Ended the sessions of";
    setNotice(`${what} ${done} user${done === 1 ? "" : "s"}.`);
    if (failures.length) setError(failures.join(" "));
    await load();
  }

  const chosenNames = page?.results.filter((u) => selected.has(u.id)).map((u) => u.username) ?? [];
  const allOnPage = page !== null && page.results.length > 0 && page.results.every((u) => selected.has(u.id));

  return (
    <div>
      <div className="d-flex flex-wrap align-items-center gap-3 mb-3">
        <h1 className="h3 mb-0">Users</h1>
        {page && (
          <span data-testid="user-count">
            {countText(page)} {page.count === 1 && !page.countIsEstimate ? "user" : "users"}
          </span>
        )}
        <button type="button" className="btn btn-primary btn-sm ms-auto" onClick={() => setAdding(!adding)} aria-expanded={adding}>
          {adding ? "Close the form" : "Add a user"}
        </button>
      </div>
      {page?.countIsEstimate && (
        <p className="small text-body-secondary">
          More than 10,000 users match: the total is an estimate, so the last page number is approximate.
        </p>
      )}
      {adding && <AddUser onCreated={(u) => navigate(`/users/${u.id}`)} />}

      <form className="row g-2 align-items-end mb-3" onSubmit={onSearch} role="search" aria-label="Users">
        <div className="col-12 col-md-4">
          <label htmlFor="user-search" className="form-label">
            Search by username or email
          </label>
          <input
            id="user-search"
            type="search"
            className="form-control"
            value={search}
            maxLength={100}
            onChange={(e) => setSearch(e.target.value)}
          />
        </div>
        <div className="col-auto">
          <button type="submit" className="btn btn-outline-primary">
            Search
          </button>
        </div>
        {(
          [
            ["isActive", "Active"],
            ["isStaff", "Staff"],
            ["isSuperuser", "Superuser"],
          ] as const
        ).map(([name, label]) => (
          <div className="col-4 col-md-auto" key={name}>
            <label htmlFor={`filter-${name}`} className="form-label">
              {label}
            </label>
            <select
              id={`filter-${name}`}
              className="form-select"
              value={params.get(name) ?? ""}
              onChange={(e) => update({ [name]: e.target.value })}
            >
              <option value="">Any</option>
              <option value="true">Yes</option>
              <option value="false">No</option>
            </select>
          </div>
        ))}
      </form>

      {notice && (
        <div className="alert alert-success" role="status" data-testid="users-notice">
          {notice}
        </div>
      )}
      {error && (
        <ErrorAlert testId="users-error">
          {error}
        </ErrorAlert>
      )}

      <div className="d-flex flex-wrap align-items-center gap-2 mb-2" aria-live="polite">
        <span>{selected.size} selected</span>
        <button
          type="button"
          className="btn btn-outline-danger btn-sm"
          disabled={selected.size === 0 || busy}
          onClick={() => setBulk("deactivate")}
        >
          Deactivate selected
        </button>
        <button
          type="button"
          className="btn btn-outline-danger btn-sm"
          disabled={selected.size === 0 || busy}
          onClick={() => setBulk("endSessions")}
        >
          End their sessions
        </button>
      </div>

      <div className="table-responsive">
        <table className="table table-hover align-middle" data-testid="users-table">
          <caption className="visually-hidden">Users, {filters.ordering}</caption>
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  className="form-check-input"
                  aria-label="Select every user on this page"
                  checked={allOnPage}
                  onChange={() =>
                    setSelected(allOnPage || !page ? new Set() : new Set(page.results.map((u) => u.id)))
                  }
                />
              </th>
              {SORTABLE.slice(0, 1).map(([field, label]) => (
                <SortHeader key={field} field={field} label={label} ordering={filters.ordering!} onSort={sortBy} />
              ))}
              <th scope="col" className="d-none d-md-table-cell">
                Email
              </th>
              <th scope="col" className="d-none d-lg-table-cell">
                Name
              </th>
              <th scope="col">Status</th>
              {SORTABLE.slice(1).map(([field, label]) => (
                <SortHeader key={field} field={field} label={label} ordering={filters.ordering!} onSort={sortBy} />
              ))}
            </tr>
          </thead>
          <tbody>
            {page?.results.map((u) => (
              <tr key={u.id} data-testid="user-row">
                <td>
                  <input
                    type="checkbox"
                    className="form-check-input"
                    aria-label={`Select ${u.username}`}
                    checked={selected.has(u.id)}
                    onChange={() => toggle(u.id)}
                  />
                </td>
                <td>
                  <Link to={`/users/${u.id}`}>{u.username}</Link>
                  {u.username === me.username && <span className="ms-1 small">(you)</span>}
                  <div className="d-md-none small text-break">{u.email}</div>
                </td>
                <td className="d-none d-md-table-cell text-break">{u.email}</td>
                <td className="d-none d-lg-table-cell">{[u.firstName, u.lastName].filter(Boolean).join(" ")}</td>
                <td>
                  <StatusBadges user={u} />
                </td>
                <td>
                  <When iso={u.dateJoined} />
                </td>
                <td>
                  <When iso={u.lastLogin} />
                </td>
              </tr>
            ))}
            {page && page.results.length === 0 && (
              <tr>
                <td colSpan={7}>No users match.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {page && (
        <Pagination
          page={filters.page!}
          pageSize={PAGE_SIZE}
          count={page.count}
          estimate={page.countIsEstimate}
          label="Users"
          onPage={(p) => update({ page: String(p) })}
        />
      )}
      {bulk && (
        <ConfirmDialog
          title={bulk === "deactivate" ? "Deactivate these users?" : "End these users' sessions?"}
          confirmLabel={bulk === "deactivate" ? "Deactivate" : "End sessions"}
          busy={busy}
          onConfirm={() => void runBulk(bulk)}
          onCancel={() => setBulk(null)}
        >
          <p>
            {bulk === "deactivate"
              ? "They will be signed out everywhere at once and cannot sign in until reactivated:"
              : "They will be signed out everywhere at once (they can sign in again):"}
          </p>
          <p className="text-break">{chosenNames.join(", ")}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function SortHeader({
  field,
  label,
  ordering,
  onSort,
}: {
  field: string;
  label: string;
  ordering: string;
  onSort: (field: string) => void;
}) {
  const sort = ordering === field ? "ascending" : ordering === `-${field}` ? "descending" : "none";
  const arrow = sort === "ascending" ? " ▲" : sort === "descending" ? " ▼" : "";
  return (
    <th scope="col" aria-sort={sort}>
      <button type="button" className="btn btn-link p-0 fw-semibold text-decoration-none" onClick={() => onSort(field)}>
        {label}
        <span aria-hidden="true">{arrow}</span>
        <span className="visually-hidden">, sort {sort === "ascending" ? "descending" : "ascending"}</span>
      </button>
    </th>
  );
}

export function StatusBadges({ user }: { user: AdminUser }) {
  return (
    <span className="d-inline-flex flex-wrap gap-1">
      {user.isActive ? (
        <span className="badge text-bg-success">active</span>
      ) : (
        <span className="badge text-bg-secondary">inactive</span>
      )}
      {user.isSuperuser ? (
        <span className="badge text-bg-danger">superuser</span>
      ) : (
        user.isStaff && <span className="badge text-bg-primary">staff</span>
      )}
    </span>
  );
}

function AddUser({ onCreated }: { onCreated: (u: AdminUser) => void }) {
  const { admin, sensitive, handleAuthFailure } = useAdmin();
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError("");
    setProblems([]);
    try {
      onCreated(await sensitive(() => admin.createUser(username.trim(), email.trim(), password)));
    } catch (e) {
      if (!handleAuthFailure(e)) {
        setError(adminErrorMessage(e));
        if (e instanceof Error && "errors" in e) setProblems((e as { errors: { message: string }[] }).errors.map((p) => p.message));
      }
      setBusy(false);
    }
  }

  return (
    <form className="card card-body mb-4" onSubmit={onSubmit} noValidate data-testid="add-user" aria-labelledby="add-user-title">
      <h2 className="h5" id="add-user-title">
        Add a user
      </h2>
      <p className="small mb-3">The new user is not staff. Their address counts as confirmed, since you gave it.</p>
      <div className="row g-3">
        <div className="col-md-4">
          <label htmlFor="new-username" className="form-label">
            Username
          </label>
          <input id="new-username" className="form-control" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
        </div>
        <div className="col-md-4">
          <label htmlFor="new-email" className="form-label">
            Email (optional)
          </label>
          <input id="new-email" type="email" className="form-control" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="col-md-4">
          <label htmlFor="new-user-password" className="form-label">
            Password
          </label>
          <input
            id="new-user-password"
            type="password"
            className="form-control"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
      </div>
      {error && (
        <ErrorAlert className="mt-3 mb-0">
          {error}
          {problems.length > 0 && (
            <ul className="mb-0">
              {problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          )}
        </ErrorAlert>
      )}
      <div className="mt-3">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Creating…" : "Create the user"}
        </button>
      </div>
    </form>
  );
}
