// Glance tasks: the record of an asynchronous job (image import, copy, the
// legacy `import` task). Running tasks touch updated_at as a heartbeat, so a
// task whose worker died is recognisable; finished tasks expire after
// [task] task_time_to_live hours and then disappear, as in Glance.

import { randomUUID } from 'node:crypto';
import type { Db } from '../db/connect.js';
import type { TasksTable } from '../db/schema.js';
import type { RequestContext } from '../auth/context.js';
import { badRequest, notFound } from '../errors/index.js';
import { isoSeconds, nowStamp } from '../images/model.js';

export type TaskStatus = 'pending' | 'processing' | 'success' | 'failure';

export interface Task {
  id: string;
  type: string;
  status: TaskStatus;
  owner: string | null;
  image_id: string | null;
  request_id: string | null;
  user_id: string | null;
  input: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  message: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

const TRANSITIONS: Record<TaskStatus, TaskStatus[]> = {
  pending: ['processing', 'failure'],
  processing: ['success', 'failure'],
  success: [],
  failure: [],
};

function fromRow(r: TasksTable): Task {
  return {
    ...r,
    status: r.status as TaskStatus,
    input: r.input ? (JSON.parse(r.input) as Record<string, unknown>) : null,
    result: r.result ? (JSON.parse(r.result) as Record<string, unknown>) : null,
  };
}

export class TaskRepository {
  constructor(
    private readonly db: Db,
    private readonly ttlHours: number,
  ) {}

  async create(t: { type: string; owner: string | null; imageId: string | null; requestId: string | null; userId: string | null; input: object }): Promise<Task> {
    const now = nowStamp();
    const row: TasksTable = {
      id: randomUUID(),
      type: t.type,
      status: 'pending',
      owner: t.owner,
      image_id: t.imageId,
      request_id: t.requestId,
      user_id: t.userId,
      input: JSON.stringify(t.input),
      result: null,
      message: '',
      expires_at: null,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('tasks').values(row).execute();
    return fromRow(row);
  }

  /** A task that has not expired. */
  async get(id: string): Promise<Task | undefined> {
    if (id.length > 36) return undefined;
    const row = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || (row.expires_at !== null && row.expires_at < nowStamp())) return undefined;
    return fromRow(row);
  }

  /** Moves a task forward; false if it is no longer in a state that allows it (e.g. preempted). */
  async transition(id: string, to: TaskStatus, fields: { message?: string; result?: object } = {}): Promise<boolean> {
    const from = (Object.keys(TRANSITIONS) as TaskStatus[]).filter((s) => TRANSITIONS[s].includes(to));
    const now = nowStamp();
    const done = to === 'success' || to === 'failure';
    const res = await this.db
      .updateTable('tasks')
      .set({
        status: to,
        updated_at: now,
        ...(fields.message !== undefined ? { message: fields.message } : {}),
        ...(fields.result !== undefined ? { result: JSON.stringify(fields.result) } : {}),
        ...(done ? { expires_at: new Date(Date.now() + this.ttlHours * 3600_000).toISOString() } : {}),
      })
      .where('id', '=', id)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Heartbeat and progress of a running task; false if it was preempted meanwhile. */
  async touch(id: string, message?: string): Promise<boolean> {
    const res = await this.db
      .updateTable('tasks')
      .set({ updated_at: nowStamp(), ...(message !== undefined ? { message } : {}) })
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'processing'])
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async forImage(imageId: string): Promise<Task[]> {
    const rows = await this.db.selectFrom('tasks').selectAll().where('image_id', '=', imageId).orderBy('created_at').execute();
    const now = nowStamp();
    return rows.filter((r) => r.expires_at === null || r.expires_at >= now).map(fromRow);
  }

  async list(q: { owner: string | null | undefined; status?: string; type?: string; limit: number; marker?: Task; sortKey: string; sortDir: 'asc' | 'desc' }): Promise<Task[]> {
    let query = this.db.selectFrom('tasks').selectAll().where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>=', nowStamp())]));
    // undefined: every task (admins); null: only owner-less ones; a project: its own and owner-less ones.
    const owner = q.owner;
    if (owner === null) query = query.where('owner', 'is', null);
    else if (owner !== undefined) query = query.where((eb) => eb.or([eb('owner', '=', owner), eb('owner', 'is', null)]));
    if (q.status) query = query.where('status', '=', q.status);
    if (q.type) query = query.where('type', '=', q.type);
    const key = q.sortKey as 'created_at' | 'updated_at' | 'status' | 'type' | 'id';
    if (q.marker) {
      const mv = q.marker[key] as string;
      const mid = q.marker.id;
      query = query.where((eb) =>
        q.sortDir === 'desc'
          ? eb.or([eb(key, '<', mv), eb.and([eb(key, '=', mv), eb('id', '<', mid)])])
          : eb.or([eb(key, '>', mv), eb.and([eb(key, '=', mv), eb('id', '>', mid)])]),
      );
    }
    const rows = await query.orderBy(key, q.sortDir).orderBy('id', q.sortDir).limit(q.limit).execute();
    return rows.map(fromRow);
  }

  /** Tasks still pending or processing whose heartbeat is older than `before`. */
  async stale(before: string): Promise<Task[]> {
    const rows = await this.db.selectFrom('tasks').selectAll().where('status', 'in', ['pending', 'processing']).where('updated_at', '<', before).execute();
    return rows.map(fromRow);
  }

  /** Drops tasks that expired (Glance soft-deletes them; nobody can see them any more). */
  async purgeExpired(): Promise<number> {
    const res = await this.db.deleteFrom('tasks').where('expires_at', '<', nowStamp()).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

/** Glance's _is_task_visible: admins see all, others their project's (and owner-less) tasks. */
export function taskVisible(ctx: RequestContext, t: Task): boolean {
  return ctx.isAdmin || t.owner === null || (ctx.projectId !== null && t.owner === ctx.projectId);
}

/** GET /v2/tasks/{id} and POST /v2/tasks. */
export function taskView(t: Task): Record<string, unknown> {
  const v: Record<string, unknown> = {
    id: t.id,
    input: t.input,
    type: t.type,
    status: t.status,
    owner: t.owner,
    message: t.message,
    result: t.result,
    created_at: isoSeconds(t.created_at),
    updated_at: isoSeconds(t.updated_at),
    self: `/v2/tasks/${t.id}`,
    schema: '/v2/schemas/task',
  };
  if (t.image_id) v.image_id = t.image_id;
  if (t.request_id) v.request_id = t.request_id;
  if (t.user_id) v.user_id = t.user_id;
  if (t.expires_at) v.expires_at = isoSeconds(t.expires_at);
  return v;
}

/** An entry of GET /v2/tasks (no input, result or message). */
export function taskStubView(t: Task): Record<string, unknown> {
  const v: Record<string, unknown> = {
    id: t.id,
    type: t.type,
    status: t.status,
    owner: t.owner,
    created_at: isoSeconds(t.created_at),
    updated_at: isoSeconds(t.updated_at),
    self: `/v2/tasks/${t.id}`,
    schema: '/v2/schemas/task',
  };
  if (t.expires_at) v.expires_at = isoSeconds(t.expires_at);
  return v;
}

/** GET /v2/images/{id}/tasks entries: Glance serializes its DB rows as they are. */
export function imageTaskView(t: Task): Record<string, unknown> {
  return {
    id: t.id,
    type: t.type,
    status: t.status,
    owner: t.owner,
    expires_at: t.expires_at,
    created_at: t.created_at,
    updated_at: t.updated_at,
    deleted_at: null,
    deleted: false,
    image_id: t.image_id,
    request_id: t.request_id,
    user_id: t.user_id,
    input: t.input,
    result: t.result,
    message: t.message,
  };
}

export function parseTaskListQuery(pairs: [string, string][], limits: { limitParamDefault: number; apiLimitMax: number }) {
  const get = (k: string) => pairs.filter(([key]) => key === k).map(([, v]) => v).pop();
  const sortDir = get('sort_dir') ?? 'desc';
  if (sortDir !== 'asc' && sortDir !== 'desc') throw badRequest(`Invalid sort direction: ${sortDir}`);
  const sortKey = get('sort_key') ?? 'created_at';
  if (!['created_at', 'updated_at', 'status', 'type', 'id'].includes(sortKey)) throw badRequest(`Invalid sort key: ${sortKey}`);
  const status = get('status');
  if (status && !['pending', 'processing', 'success', 'failure'].includes(status)) throw badRequest(`Invalid status value: ${status}`);
  const type = get('type');
  if (type && !['import', 'api_image_import', 'location_import'].includes(type)) throw badRequest(`Invalid type value: ${type}`);
  const marker = get('marker');
  if (marker !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(marker)) throw badRequest('Invalid marker format');
  const limitText = get('limit');
  let limit = limits.limitParamDefault;
  if (limitText !== undefined) {
    if (!/^\s*-?\d+\s*$/.test(limitText)) throw badRequest('limit param must be an integer');
    limit = Number(limitText);
    if (limit < 0) throw badRequest('limit param must be positive');
  }
  return { sortDir: sortDir as 'asc' | 'desc', sortKey, status, type, marker, limit: Math.min(limit, limits.apiLimitMax) };
}

export async function taskOr404(repo: TaskRepository, ctx: RequestContext, id: string): Promise<Task> {
  const t = await repo.get(id);
  if (!t || !taskVisible(ctx, t)) throw notFound(`Task with identifier ${id} not found`);
  return t;
}
