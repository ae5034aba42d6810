// Sharing: the owner adds and removes member projects; a member project
// answers its share (accept or reject). Glance only lets shared images have
// members, so the owner is told to switch the visibility first.

import { useState } from 'preact/hooks';
import { call, json } from '../lib/api';
import { isAdmin, projectId } from '../lib/session';
import { useLoad } from '../lib/useLoad';
import { date } from '../lib/format';
import type { Image, Member } from '../lib/types';
import { act } from './notices';
import { Loading } from './Loading';

export function Members({ image }: { image: Image }) {
  const me = projectId();
  const owner = me === undefined ? isAdmin() : image.owner === me || isAdmin();
  return (
    <section aria-labelledby="members-title">
      <h2 id="members-title">Sharing</h2>
      {owner ? <OwnerView image={image} /> : me ? <MemberView image={image} me={me} /> : null}
    </section>
  );
}

function OwnerView({ image }: { image: Image }) {
  const members = useLoad(() => json<{ members: Member[] }>(`/v2/images/${image.id}/members`), [image.id]);
  const [project, setProject] = useState('');
  if (image.visibility !== 'shared')
    return <p class="muted">Only images with visibility "shared" have member projects: set the visibility to shared (Edit, below) to share this image.</p>;
  if (!members.data) return <Loading error={members.error} retry={members.reload} />;
  return (
    <>
      <table>
        <thead>
          <tr>
            <th scope="col">Project</th>
            <th scope="col">Status</th>
            <th scope="col">Since</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {members.data.members.map((m) => (
            <tr key={m.member_id} data-testid="member-row">
              <td>
                <code>{m.member_id}</code>
              </td>
              <td>{m.status}</td>
              <td>{date(m.updated_at)}</td>
              <td>
                <button
                  type="button"
                  onClick={async () => {
                    if (confirm(`Stop sharing with ${m.member_id}?`) && (await act('Removing the member', () => call(`/v2/images/${image.id}/members/${m.member_id}`, { method: 'DELETE' }), 'Member removed.')))
                      members.reload();
                  }}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {members.data.members.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                Not shared with any project yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await act('Adding the member', () => json(`/v2/images/${image.id}/members`, { json: { member: project.trim() } }), 'Shared: the project sees it as pending until it accepts.')) {
            setProject('');
            members.reload();
          }
        }}
      >
        <label>
          Project ID to share with <input value={project} required onInput={(e) => setProject(e.currentTarget.value)} />
        </label>
        <button type="submit">Share</button>
      </form>
    </>
  );
}

function MemberView({ image, me }: { image: Image; me: string }) {
  const mine = useLoad(() => json<Member>(`/v2/images/${image.id}/members/${me}`), [image.id, me]);
  if (mine.error) return <p class="muted">This image is not shared with your project ({mine.error}).</p>;
  if (!mine.data) return <Loading />;
  const answer = async (status: 'accepted' | 'rejected') => {
    if (await act('Answering the share', () => json(`/v2/images/${image.id}/members/${me}`, { method: 'PUT', json: { status } }), `Share ${status}.`)) mine.reload();
  };
  return (
    <p>
      Shared with your project: <strong data-testid="member-status">{mine.data.status}</strong>.{' '}
      <button type="button" disabled={mine.data.status === 'accepted'} onClick={() => answer('accepted')}>
        Accept
      </button>{' '}
      <button type="button" disabled={mine.data.status === 'rejected'} onClick={() => answer('rejected')}>
        Reject
      </button>
    </p>
  );
}
