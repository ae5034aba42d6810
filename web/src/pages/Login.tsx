// Sign-in against the Keystone imago validates tokens with.

import { useState } from 'preact/hooks';
import { json } from '../lib/api';
import { setSession, type Session } from '../lib/session';
import { forgetDiscovery } from '../lib/discovery';
import { describe } from '../components/notices';

export function LoginPage({ reason }: { reason?: string }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="login">
      <h1>Sign in to imago</h1>
      {reason && <p class="notice info">{reason}</p>}
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const data = Object.fromEntries(new FormData(e.currentTarget));
          setBusy(true);
          setError(undefined);
          try {
            const s = await json<Session>('/dashboard/api/session', { json: data });
            forgetDiscovery();
            setSession(s);
          } catch (err) {
            setError(describe(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          User name <input name="username" autocomplete="username" required />
        </label>
        <label>
          Password <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <label>
          Domain <input name="domain" defaultValue="Default" required />
        </label>
        <label>
          Project <input name="project" placeholder="your first project if empty" />
        </label>
        {error && (
          <p class="notice error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
