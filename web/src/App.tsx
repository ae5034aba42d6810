// The frame: sign-in when needed, the header (navigation, project switch,
// sign-out), the notices, and the page for the current route.

import { useEffect, useState } from 'preact/hooks';
import { json, call } from './lib/api';
import { forgetDiscovery } from './lib/discovery';
import { href, useRoute } from './lib/router';
import { isAdmin, sessionStore, setSession, type Session } from './lib/session';
import { useStore } from './lib/store';
import { act, Notices } from './components/notices';
import { Loading } from './components/Loading';
import { LoginPage } from './pages/Login';
import { ImagesPage } from './pages/Images';
import { CreatePage } from './pages/Create';
import { DetailPage } from './pages/Detail';
import { AdminPage } from './pages/Admin';

export function App() {
  const state = useStore(sessionStore);
  const [configError, setConfigError] = useState<string>();
  const load = () => {
    setConfigError(undefined);
    json<{ auth: 'none' | 'keystone' }>('/dashboard/api/config').then(
      (c) => sessionStore.set({ ...sessionStore.get(), auth: c.auth }),
      (e) => setConfigError(String((e as Error).message)),
    );
  };
  useEffect(load, []);
  if (state.auth === 'unknown')
    return (
      <main id="main">
        <Loading error={configError} retry={load}>
          Connecting to imago…
        </Loading>
      </main>
    );
  if (state.auth === 'keystone' && !state.session) return <LoginPage reason={state.reason} />;
  return <Shell session={state.session} />;
}

function ProjectSwitch({ session }: { session: Session }) {
  const [projects, setProjects] = useState<{ id: string; name: string }[]>();
  useEffect(() => {
    json<{ projects: { id: string; name: string }[] }>('/dashboard/api/session/projects', { headers: { 'X-Auth-Token': session.token } }).then(
      (r) => setProjects(r.projects),
      () => setProjects([]),
    );
  }, [session.token]);
  return (
    <label class="project">
      Project
      <select
        value={session.project?.id}
        onChange={async (e) => {
          const id = e.currentTarget.value;
          await act('Switching project', async () => {
            const s = await json<Session>('/dashboard/api/session/project', { json: { project_id: id }, headers: { 'X-Auth-Token': session.token } });
            forgetDiscovery();
            setSession(s);
            location.hash = '#/images';
          });
        }}
      >
        {(projects ?? (session.project ? [{ id: session.project.id, name: session.project.name ?? session.project.id }] : [])).map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function Shell({ session }: { session: Session | undefined }) {
  const route = useRoute();
  const [section = 'images', second] = route.parts;
  let page;
  if (section === 'create') page = <CreatePage route={route} />;
  else if (section === 'images' && second) page = <DetailPage id={second} />;
  else if (section === 'admin') page = <AdminPage tab={second ?? 'stores'} />;
  else page = <ImagesPage route={route} />;

  const signOut = async () => {
    if (session) await call('/dashboard/api/session', { method: 'DELETE', headers: { 'X-Auth-Token': session.token } }).catch(() => undefined);
    setSession(undefined, 'Signed out.');
  };

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('images')}>
          imago
        </a>
        <nav aria-label="Main">
          <a href={href('images')} aria-current={section === 'images' ? 'page' : undefined}>
            Images
          </a>
          <a href={href('create')} aria-current={section === 'create' ? 'page' : undefined}>
            Create
          </a>
          {isAdmin() && (
            <a href={href('admin/stores')} aria-current={section === 'admin' ? 'page' : undefined}>
              Admin
            </a>
          )}
        </nav>
        <div class="who">
          {session ? (
            <>
              <span>
                {session.user.name}
                {session.user.domain ? ` (${session.user.domain})` : ''}
              </span>
              <ProjectSwitch session={session} />
              <button type="button" onClick={signOut}>
                Sign out
              </button>
            </>
          ) : (
            <span class="muted">No authentication (admin)</span>
          )}
        </div>
      </header>
      <Notices />
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}
