import type { AuthClient, User } from "./index.js";

/** An organization. */
export interface Org {
  id: string;
  name: string;
  /** Unique: lower-case letters, digits and `-`. */
  slug: string;
  /** The app's own string values. */
  metadata: Record<string, string>;
  /** RFC 3339. */
  createdAt: string;
}

/** An organization and the caller's role in it. */
export interface OrgMembership {
  org: Org;
  /** `owner`, `admin`, `member`, `billing`, `viewer`, or one of the server's own roles. */
  role: string;
}

export interface Member {
  user: User;
  role: string;
  /** RFC 3339. */
  joinedAt: string;
}

export interface Invitation {
  id: string;
  orgId: string;
  /** Lower-cased. */
  email: string;
  role: string;
  /** The inviter's user id. */
  invitedBy: string;
  /** RFC 3339. */
  createdAt: string;
  /** RFC 3339. */
  expiresAt: string;
}

/** The organization the session acts for, as its access token carries it. */
export interface ActiveOrg {
  id: string;
  role: string;
  /** `resource:action`, `*` for any segment. */
  permissions: string[];
}

export interface Members {
  /** Oldest first. */
  list(): Promise<Member[]>;
  /** A new role (admin or owner; never above one's own). */
  update(userId: string, role: string): Promise<void>;
  remove(userId: string): Promise<void>;
  /** The signed-in user leaves (not the last owner). */
  leave(): Promise<void>;
}

export interface Orgs {
  /** A new organization; the caller is its owner. */
  create(org: { name: string; slug?: string; metadata?: Record<string, string> }): Promise<OrgMembership>;
  /** The caller's organizations, oldest membership first. */
  list(): Promise<OrgMembership[]>;
  get(id: string): Promise<OrgMembership>;
  update(id: string, changes: { name?: string; slug?: string; metadata?: Record<string, string> }): Promise<OrgMembership>;
  /** Deletes it (owner). */
  remove(id: string): Promise<void>;
  /** Acts for `id` from now on: the session's tokens are refreshed to carry its role and permissions. */
  activate(id: string): Promise<OrgMembership>;
  /** The active organization, from the session's token; `null` for none. */
  active(): Promise<ActiveOrg | null>;
  /** Whether the active organization's role grants `permission` (`todos:write`); checked from the token. */
  can(permission: string): Promise<boolean>;
  members(id: string): Members;
  /** Makes a member the owner (owner); the caller becomes an admin. */
  transfer(id: string, userId: string): Promise<void>;
  /** Mails an invitation that works 7 days, once (admin or owner; a role up to one's own). */
  invite(id: string, invitation: { email: string; role: string; redirectTo?: string }): Promise<Invitation>;
  /** The pending invitations, newest first (admin or owner). */
  invitations(id: string): Promise<Invitation[]>;
  /** Sends it again with a new link (the old one stops working). */
  resend(id: string, invitationId: string): Promise<Invitation>;
  revoke(id: string, invitationId: string): Promise<void>;
  /** Joins with the `token` of an invitation's link, as the account it was sent to (address verified). */
  accept(token: string): Promise<OrgMembership>;
}

export function orgs(auth: AuthClient): Orgs;
/** The active organization, from the session's token; `null` for none. */
export function active(auth: AuthClient): Promise<ActiveOrg | null>;
/** Whether the active organization's role grants `permission`. */
export function can(auth: AuthClient, permission: string): Promise<boolean>;
/** Whether the permission `granted` covers `wanted`, by whole segments. */
export function permits(granted: string, wanted: string): boolean;
