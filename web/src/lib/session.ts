// Who is signed in. The token lives in this tab's sessionStorage only (gone
// when the tab closes; never in a URL, a cookie or a log) and is sent as
// X-Auth-Token. In no-auth mode there is no token and the API acts as admin.

import { Store } from './store';

export interface Session {
  token: string;
  expiresAt?: string;
  user: { id?: string; name?: string; domain?: string };
  project?: { id: string; name?: string };
  roles: string[];
}

export interface SessionState {
  /** Learnt from /dashboard/api/config at start. */
  auth: 'none' | 'keystone' | 'unknown';
  session: Session | undefined;
  /** Why the user was sent back to the sign-in form. */
  reason?: string;
}

const KEY = 'imago.session';

function load(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Session;
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

export const sessionStore = new Store<SessionState>({ auth: 'unknown', session: load() });

export function setSession(s: Session | undefined, reason?: string): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  sessionStore.set({ ...sessionStore.get(), session: s, reason });
}

export function token(): string | undefined {
  return sessionStore.get().session?.token;
}

export function isAdmin(): boolean {
  const st = sessionStore.get();
  if (st.auth === 'none') return true;
  return (st.session?.roles ?? []).some((r) => r.toLowerCase() === 'admin');
}

/** The current project (undefined in no-auth mode). */
export function projectId(): string | undefined {
  return sessionStore.get().session?.project?.id;
}
