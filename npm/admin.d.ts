import type { AuthClient, Passkey, User } from "./index.js";
import type { Session } from "./sessions.js";
import type { Device } from "./devices.js";
import type { Identity } from "./oauth.js";
import type { OrgMembership } from "./orgs.js";

/** A user as administrators see them. */
export interface AdminUser extends User {
  /** When an administrator disabled the account (RFC 3339); absent while it may sign in. */
  disabledAt?: string;
  /** When the account last signed in (RFC 3339). */
  lastSignInAt?: string;
}

export interface UserSearch {
  /** Only users whose address or name starts with this (any case). */
  query?: string;
  /** Only users made at or after this time (RFC 3339). */
  createdSince?: string;
  /** Only users made before this time (RFC 3339). */
  createdBefore?: string;
  /** 1 to 200; 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface UserPage {
  /** Oldest first. */
  users: AdminUser[];
  /** Where the next page starts; absent on the last page. */
  nextCursor?: string;
}

/** One user and everything that signs them in. */
export interface UserDetail {
  user: AdminUser;
  /** Live sessions, newest first. */
  sessions: Session[];
  devices: Device[];
  passkeys: Passkey[];
  identities: Identity[];
  orgs: OrgMembership[];
}

export interface AuditFilter {
  userId?: string;
  /** `sign_in`, `sign_in_failed`, `admin_disabled_user`, … */
  kind?: string;
  /** Only events at or after this time (RFC 3339). */
  since?: string;
  /** 1 to 200; 50. */
  limit?: number;
  cursor?: string;
}

export interface AuditEvent {
  /** Later events have greater ids. */
  id: number;
  /** RFC 3339. */
  at: string;
  kind: string;
  userId?: string;
  sessionId?: string;
  ip?: string;
  userAgent?: string;
  /** Facts of this kind of event, such as who acted (`adminUser`, `adminKey`): its keys in camelCase too. */
  detail?: Record<string, unknown>;
}

export interface AuditPage {
  /** Newest first. */
  events: AuditEvent[];
  nextCursor?: string;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  /** The event types it takes; absent: every type. */
  events?: string[];
  /** RFC 3339. */
  createdAt: string;
  /** When it was disabled (it answered 410 Gone). */
  disabledAt?: string;
  disabledReason?: string;
  /** From the server's configuration: changed there, not here. */
  configured?: boolean;
  /** After a rotation: until when deliveries are signed with the previous secret too. */
  previousSecretUntil?: string;
}

/** An endpoint and its signing secret (`whsec_…`), shown this once. */
export interface WebhookCreated extends WebhookEndpoint {
  secret: string;
}

export interface WebhookDelivery {
  id: number;
  /** The `webhook-id` it is sent with, on every attempt. */
  msgId: string;
  type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  createdAt: string;
  nextAttemptAt?: string;
  deliveredAt?: string;
  lastStatus?: number;
  lastError?: string;
  /** The JSON body that is posted. */
  payload: string;
}

export interface WebhookDeliveryPage {
  /** Newest first. */
  deliveries: WebhookDelivery[];
  nextCursor?: string;
}

export interface Webhooks {
  /** Every event type when `events` is absent. */
  create(endpoint: { url: string; events?: string[] }): Promise<WebhookCreated>;
  /** Oldest first. */
  list(): Promise<WebhookEndpoint[]>;
  /** `events: null` for every type; what is left out stays. */
  update(id: string, changes: { url?: string; events?: string[] | null }): Promise<WebhookEndpoint>;
  remove(id: string): Promise<void>;
  /** Sends to a disabled endpoint again. */
  enable(id: string): Promise<WebhookEndpoint>;
  /** A new secret; for a day deliveries are signed with the old one too. */
  rotateSecret(id: string): Promise<WebhookCreated>;
  deliveries(id: string, page?: { limit?: number; cursor?: string; status?: "pending" | "delivered" | "failed" }): Promise<WebhookDeliveryPage>;
  /** Queues a `webhook.test` message to this endpoint alone. */
  test(id: string): Promise<WebhookDelivery>;
  redeliver(id: string, deliveryId: number): Promise<void>;
}

/**
 * The admin API, with the signed-in user's session: it must act for the server's admin
 * organization (`orgs(auth).activate(id)`) with a role that grants `keyward:admin`. A call
 * without it rejects with `forbidden`.
 */
export interface Admin {
  users(search?: UserSearch): Promise<UserPage>;
  user(id: string): Promise<UserDetail>;
  /** Ends every session of the user at once. */
  endSessions(id: string): Promise<{ ended: number }>;
  /** They cannot sign in, and their sessions end at once. */
  disable(id: string): Promise<{ user: AdminUser; ended: number }>;
  enable(id: string): Promise<AdminUser>;
  /** Deletes the user and their data (`last_owner` while they are a shared team's last owner). */
  remove(id: string): Promise<void>;
  /** Mails the user a password reset link. */
  passwordReset(id: string): Promise<void>;
  audit(filter?: AuditFilter): Promise<AuditPage>;
  webhooks: Webhooks;
}

export function admin(auth: AuthClient): Admin;
