// Image sharing (members API), with Glance's rules: only `shared` images have
// members; the owner adds and removes them; only the member itself accepts or
// rejects; a member sees only its own membership.

import type { Db } from '../db/connect.js';
import type { RequestContext } from '../auth/context.js';
import { badRequest, conflict, forbidden, isApiError, notFound, tooLarge } from '../errors/index.js';
import { isoSeconds, nowStamp, type Image } from './model.js';
import type { ImageAuthorizer, Loaded } from './authz.js';

export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type MemberStatusValue = (typeof MEMBER_STATUSES)[number];

export interface Member {
  image_id: string;
  member: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export class MemberRepository {
  constructor(private readonly db: Db) {}

  async isMember(imageId: string, project: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('image_members')
      .select('member')
      .where('image_id', '=', imageId)
      .where('member', '=', project)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Members visible to the context: all for admins and the owner, else only its own row. */
  async list(imageId: string, ctx: RequestContext, image: Image): Promise<Member[]> {
    let q = this.db.selectFrom('image_members').selectAll().where('image_id', '=', imageId);
    if (!ctx.isAdmin && (ctx.projectId === null || image.owner !== ctx.projectId)) {
      q = q.where('member', '=', ctx.projectId ?? '');
    }
    return q.orderBy('created_at').execute();
  }

  async get(imageId: string, member: string): Promise<Member | undefined> {
    return this.db.selectFrom('image_members').selectAll().where('image_id', '=', imageId).where('member', '=', member).executeTakeFirst();
  }

  async count(imageId: string): Promise<number> {
    const r = await this.db
      .selectFrom('image_members')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('image_id', '=', imageId)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async add(imageId: string, member: string): Promise<Member> {
    const now = nowStamp();
    const row: Member = { image_id: imageId, member, status: 'pending', created_at: now, updated_at: now };
    await this.db.insertInto('image_members').values({ ...row, can_share: 0 }).execute();
    return row;
  }

  async setStatus(imageId: string, member: string, status: string): Promise<void> {
    await this.db
      .updateTable('image_members')
      .set({ status, updated_at: nowStamp() })
      .where('image_id', '=', imageId)
      .where('member', '=', member)
      .execute();
  }

  async remove(imageId: string, member: string): Promise<void> {
    await this.db.deleteFrom('image_members').where('image_id', '=', imageId).where('member', '=', member).execute();
  }
}

export function memberView(m: Member): Record<string, unknown> {
  return {
    member_id: m.member,
    image_id: m.image_id,
    status: m.status,
    created_at: isoSeconds(m.created_at),
    updated_at: isoSeconds(m.updated_at),
    schema: '/v2/schemas/member',
  };
}

export class MemberService {
  constructor(
    private readonly repo: MemberRepository,
    private readonly authz: ImageAuthorizer,
    private readonly quota: number,
  ) {}

  /** Glance's MemberAPIPolicy: get_image first (404), then the member rule (403). */
  private enforce(ctx: RequestContext, { image, access }: Loaded, rule: string): void {
    this.authz.member(ctx, image, rule, access);
  }

  /** Glance's hard-coded owner checks, which only apply without secure RBAC. */
  private get legacyChecks(): boolean {
    return !this.authz.enforcer.options.enforceSecureRbac;
  }

  private requireShared(image: Image): void {
    if (image.visibility !== 'shared') throw forbidden('Only shared images have members.');
  }

  async create(ctx: RequestContext, loaded: Loaded, body: unknown): Promise<Member> {
    const { image } = loaded;
    const memberId = parseMemberBody(body);
    try {
      this.requireShared(image);
      if (this.legacyChecks && !ctx.isAdmin && (image.owner === null || image.owner !== ctx.projectId)) {
        throw forbidden('You are not permitted to create image members for the image.');
      }
      this.enforce(ctx, loaded, 'add_member');
    } catch (e) {
      if (isApiError(e, 'forbidden')) throw forbidden(`Not allowed to create members for image ${image.id}.`);
      throw e;
    }
    if (await this.repo.get(image.id, memberId)) throw conflict(`Member ${memberId} is duplicated for image ${image.id}`);
    if (this.quota >= 0 && (await this.repo.count(image.id)) >= this.quota) {
      throw tooLarge(`Image member limit exceeded for image ${image.id}: attempted: ${this.quota + 1}, maximum: ${this.quota}:`);
    }
    return this.repo.add(image.id, memberId);
  }

  async list(ctx: RequestContext, loaded: Loaded): Promise<Member[]> {
    const { image } = loaded;
    try {
      this.requireShared(image);
      this.enforce(ctx, loaded, 'get_members');
    } catch (e) {
      if (isApiError(e, 'forbidden')) throw forbidden(`Not allowed to list members for image ${image.id}: ${(e as Error).message}`);
      throw e;
    }
    return this.repo.list(image.id, ctx, image);
  }

  /** Lookup by a caller allowed to see it: the owner, an admin, or the member itself. */
  private async lookup(ctx: RequestContext, loaded: Loaded, memberId: string): Promise<Member> {
    const { image } = loaded;
    this.enforce(ctx, loaded, 'get_member');
    const m = await this.repo.get(image.id, memberId);
    const mayLook = ctx.isAdmin || (ctx.projectId !== null && (image.owner === ctx.projectId || memberId === ctx.projectId));
    if (!m || !mayLook) throw notFound(`${memberId} not found in the member list of the image ${image.id}.`);
    return m;
  }

  async show(ctx: RequestContext, loaded: Loaded, memberId: string): Promise<Member> {
    try {
      this.requireShared(loaded.image);
      return await this.lookup(ctx, loaded, memberId);
    } catch (e) {
      if (isApiError(e, 'forbidden')) throw notFound((e as Error).message);
      throw e;
    }
  }

  async update(ctx: RequestContext, loaded: Loaded, memberId: string, body: unknown): Promise<Member> {
    const { image } = loaded;
    const status = parseStatusBody(body);
    try {
      this.requireShared(image);
      if (this.legacyChecks && !ctx.isAdmin && ctx.projectId === image.owner) {
        throw forbidden("You are not permitted to modify 'status' on this image member.");
      }
      const m = await this.lookup(ctx, loaded, memberId);
      this.enforce(ctx, loaded, 'modify_member');
      if (!(MEMBER_STATUSES as readonly string[]).includes(status)) {
        throw badRequest('Incorrect request: Status must be "pending", "accepted" or "rejected".');
      }
      await this.repo.setStatus(image.id, memberId, status);
      return { ...m, status, updated_at: nowStamp() };
    } catch (e) {
      if (isApiError(e, 'forbidden')) throw forbidden(`Not allowed to update members for image ${image.id}.`);
      throw e;
    }
  }

  async delete(ctx: RequestContext, loaded: Loaded, memberId: string): Promise<void> {
    const { image } = loaded;
    try {
      this.requireShared(image);
      if (this.legacyChecks && !ctx.isAdmin && ctx.projectId !== image.owner) throw forbidden('You cannot delete image member.');
      await this.lookup(ctx, loaded, memberId);
      this.enforce(ctx, loaded, 'delete_member');
    } catch (e) {
      if (isApiError(e, 'forbidden')) throw forbidden(`Not allowed to delete members for image ${image.id}.`);
      throw e;
    }
    await this.repo.remove(image.id, memberId);
  }
}

function parseMemberBody(body: unknown): string {
  if (body === undefined) throw badRequest('Body expected in request.');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Expected a member in the form: {"member": "image_id"}');
  const b = body as Record<string, unknown>;
  if (!('member' in b)) throw badRequest('Member to be added not specified');
  if (!b.member) throw badRequest("Member can't be empty");
  if (typeof b.member !== 'string') throw badRequest('Expected a member in the form: {"member": "image_id"}');
  return b.member;
}

function parseStatusBody(body: unknown): string {
  if (body === undefined) throw badRequest('Body expected in request.');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Expected a status in the form: {"status": "status"}');
  const b = body as Record<string, unknown>;
  if (!('status' in b)) throw badRequest('Status not specified');
  if (typeof b.status !== 'string') throw badRequest('Incorrect request: Status must be "pending", "accepted" or "rejected".');
  return b.status;
}
