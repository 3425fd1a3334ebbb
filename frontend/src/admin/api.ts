// The admin's calls, on the shared API client. The admin is always served
// by the latchkey binary on the API's origin, so one build works in every
// topology: relative URLs, and the CSRF token from the X-CSRFToken header
// of /api/csrf/ (the csrftoken cookie is HttpOnly outside embedded).

import { ApiClient, createClient, Schemas } from "../api/client";

/** A user as the admin shows it. */
export type AdminUser = Schemas["AdminUser"];

/** A page of a list; `count` is an estimate when `countIsEstimate`. */
export interface Page<T> {
  count: number;
  countIsEstimate: boolean;
  results: T[];
}

/** A session with whose it is (`user` null when the account is gone). */
export type AdminSession = Schemas["AdminSession"];
export type AdminEvent = Schemas["AdminEvent"];
/** A user's second factors, as the admin sees them. */
export type AdminFactors = Schemas["AdminFactors"];
/** A user's account at an OpenID Connect provider. */
export type AdminIdentity = Schemas["LinkedIdentity"];

export interface UserFilters {
  search?: string;
  isActive?: boolean;
  isStaff?: boolean;
  isSuperuser?: boolean;
  ordering?: string;
  page?: number;
  pageSize?: number;
}

export type UserChanges = Schemas["UserChangesRequest"];

/** A query string from the set values of `params` ("" when none). */
export function queryString(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export interface AdminApi {
  users(f: UserFilters): Promise<Page<AdminUser>>;
  user(id: number): Promise<AdminUser>;
  createUser(username: string, email: string, password: string): Promise<AdminUser>;
  updateUser(id: number, changes: UserChanges): Promise<AdminUser>;
  setPassword(id: number, newPassword: string): Promise<{ detail: string; ended: number }>;
  factors(id: number): Promise<AdminFactors>;
  identities(id: number): Promise<AdminIdentity[]>;
  resetFactors(id: number): Promise<{ detail: string }>;
  userSessions(id: number): Promise<AdminSession[]>;
  endUserSessions(id: number): Promise<{ detail: string; ended: number }>;
  sessions(p: { user?: string; page?: number; pageSize?: number }): Promise<Page<AdminSession>>;
  endSession(id: string): Promise<void>;
  events(p: { user?: string; kind?: string; page?: number; pageSize?: number }): Promise<Page<AdminEvent>>;
}

export function adminApi(api: ApiClient): AdminApi {
  return {
    users: (f) => api.request("GET", `/api/admin/users/${queryString({ ...f })}`),
    user: (id) => api.request("GET", `/api/admin/users/${id}/`),
    createUser: (username, email, password) => api.request("POST", "/api/admin/users/", { username, email, password }),
    updateUser: (id, changes) => api.request("PATCH", `/api/admin/users/${id}/`, changes),
    setPassword: (id, newPassword) => api.request("POST", `/api/admin/users/${id}/password/`, { newPassword }),
    factors: (id) => api.request("GET", `/api/admin/users/${id}/mfa/`),
    identities: async (id) =>
      (await api.request<Schemas["IdentityList"]>("GET", `/api/admin/users/${id}/identities/`)).identities,
    resetFactors: (id) => api.request("DELETE", `/api/admin/users/${id}/mfa/`),
    userSessions: async (id) =>
      (await api.request<{ sessions: AdminSession[] }>("GET", `/api/admin/users/${id}/sessions/`)).sessions,
    endUserSessions: (id) => api.request("DELETE", `/api/admin/users/${id}/sessions/`),
    sessions: (p) => api.request("GET", `/api/admin/sessions/${queryString(p)}`),
    endSession: async (id) => {
      await api.request("DELETE", `/api/admin/sessions/${encodeURIComponent(id)}/`);
    },
    events: (p) => api.request("GET", `/api/admin/events/${queryString(p)}`),
  };
}

/** The admin's client: same origin as the API, token from the header. */
export function adminClient(): ApiClient {
  return createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin" });
}

/** "about 1,000,000" or "42". */
export function countText(p: { count: number; countIsEstimate: boolean }): string {
  const n = p.count.toLocaleString("en");
  return p.countIsEstimate ? `about ${n}` : n;
}
