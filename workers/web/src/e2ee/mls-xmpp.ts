/**
 * The MLS member's XMPP shell (docs/e2ee-protocol.md §4, namespace urn:parley:mls:0): StanzaJS (JXT) definitions
 * of the Delivery Service stanzas, requests as `<iq/>` to the room, the room's headline payloads handed to the
 * member (member.ts), and a fresh member for every new XMPP session of the same client (a rejoin is a new member).
 *
 * The member itself (member.ts, with ts-mls) runs in its own worker (mls-worker.ts, through RemoteMember in
 * mls-remote.ts): the page never loads ts-mls, the hair check's first paint does not wait for it, the KeyPackage still
 * goes out while the person checks their camera, and commits never hold up the page's main thread.
 * Our identity also travels in our MUC presence (`<mls xmlns='urn:parley:mls:0' identity='…'/>`), so that everyone
 * can match the group's members with the room's occupants (the safety panel flags a mismatch).
 */
import type { Agent } from "stanza";
import * as JID from "stanza/JID";
import { attribute, childText, multipleChildAttribute, text, type DefinitionOptions } from "stanza/jxt";
import type { ReceivedMessage } from "stanza/protocol";
import type { GroupKeySource } from "./keys";
import type { DsAnswer, DsRequest, DsTransport, RoomPayload } from "./member";
import { RemoteMember } from "./mls-remote";
import { testPlaintext } from "./test-key-hook";

declare const __PARLEY_MLS_WORKER_URL__: string | undefined;

const NS_MLS = "urn:parley:mls:0";

interface WireCommit {
  epoch?: string;
  /** room -> member: the commit itself */
  data?: string;
  message?: string;
  groupInfo?: string;
  welcome?: string;
  adds?: string[];
  removes?: string[];
}
interface WireRequest {
  create?: string;
  epoch?: string;
  adds?: { identity?: string; keyPackage?: string }[];
  removes?: string[];
}

declare module "stanza/protocol" {
  export interface IQPayload {
    mlsKeyPackage?: { data?: string };
    mlsCreate?: { groupInfo?: string };
    mlsCommit?: WireCommit;
  }
  export interface Message {
    mlsCommitRequest?: WireRequest;
    mlsCommit?: WireCommit;
    mlsWelcome?: { epoch?: string; data?: string };
  }
  export interface Presence {
    parleyMls?: { identity?: string };
  }
}

const definitions: DefinitionOptions[] = [
  { element: "key-package", namespace: NS_MLS, path: "iq.mlsKeyPackage", fields: { data: text() } },
  { element: "create", namespace: NS_MLS, path: "iq.mlsCreate", fields: { groupInfo: childText(NS_MLS, "group-info") } },
  {
    element: "commit",
    namespace: NS_MLS,
    path: "iq.mlsCommit",
    aliases: ["message.mlsCommit"],
    fields: {
      epoch: attribute("epoch"),
      data: text(),
      message: childText(NS_MLS, "message"),
      groupInfo: childText(NS_MLS, "group-info"),
      welcome: childText(NS_MLS, "welcome"),
      adds: multipleChildAttribute(NS_MLS, "add", "identity"),
      removes: multipleChildAttribute(NS_MLS, "remove", "identity"),
    },
  },
  {
    element: "commit-request",
    namespace: NS_MLS,
    path: "message.mlsCommitRequest",
    fields: { create: attribute("create"), epoch: attribute("epoch"), removes: multipleChildAttribute(NS_MLS, "remove", "identity") },
  },
  {
    element: "add",
    namespace: NS_MLS,
    aliases: [{ path: "message.mlsCommitRequest.adds", multiple: true }],
    fields: { identity: attribute("identity"), keyPackage: text() },
  },
  { element: "welcome", namespace: NS_MLS, path: "message.mlsWelcome", fields: { epoch: attribute("epoch"), data: text() } },
  { element: "mls", namespace: NS_MLS, path: "presence.parleyMls", fields: { identity: attribute("identity") } },
];

const registered = new WeakSet<Agent>();
/** Teach this client the MLS stanzas (once). */
function registerMls(client: Agent): void {
  if (registered.has(client)) return;
  registered.add(client);
  client.stanzas.define(definitions);
}

const b64 = (u: Uint8Array) => {
  let s = "";
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (s: string) => Uint8Array.from(atob(s.trim()), (c) => c.charCodeAt(0));
const epochOf = (s: string | undefined) => (s && /^\d{1,20}$/.test(s) ? BigInt(s) : undefined);

/** The room's payload in a message, if it carries a well-formed one (anything else is ignored). */
function payloadOf(msg: ReceivedMessage): RoomPayload | undefined {
  try {
    const r = msg.mlsCommitRequest;
    if (r) {
      if (r.create === "true") return { kind: "commit-request", create: true };
      const epoch = epochOf(r.epoch);
      if (epoch === undefined) return undefined;
      const adds = (r.adds ?? []).flatMap((a) => (a.identity && a.keyPackage ? [{ identity: a.identity, keyPackage: unb64(a.keyPackage) }] : []));
      return { kind: "commit-request", create: false, epoch, adds, removes: r.removes ?? [] };
    }
    const c = msg.mlsCommit;
    if (c?.data) {
      const epoch = epochOf(c.epoch);
      return epoch === undefined ? undefined : { kind: "commit", epoch, message: unb64(c.data) };
    }
    const w = msg.mlsWelcome;
    if (w?.data) {
      const epoch = epochOf(w.epoch);
      return epoch === undefined ? undefined : { kind: "welcome", epoch, welcome: unb64(w.data) };
    }
  } catch {
    /* not base64: ignored */
  }
  return undefined;
}

function wireRequest(r: DsRequest): Record<string, unknown> {
  switch (r.kind) {
    case "key-package":
      return { mlsKeyPackage: { data: b64(r.keyPackage) } };
    case "create":
      return { mlsCreate: { groupInfo: b64(r.groupInfo) } };
    case "commit":
      return {
        mlsCommit: {
          epoch: String(r.epoch),
          message: b64(r.message),
          groupInfo: b64(r.groupInfo),
          ...(r.welcome ? { welcome: b64(r.welcome) } : {}),
          adds: r.adds,
          removes: r.removes,
        },
      };
    default: {
      const never: never = r;
      throw new Error(`unknown request ${JSON.stringify(never)}`);
    }
  }
}

/** The call's view of its MLS membership: keys and safety code (GroupKeySource) plus what the call shell needs. */
export interface MlsSession {
  keys: GroupKeySource;
  /** our identity in the current XMPP session (put it in the join presence); undefined until the KeyPackage is made */
  identity(): string | undefined;
  /** resolves with the identity of the current session's KeyPackage once made */
  ready(): Promise<string>;
  /** called on every epoch change (also when we leave the group) */
  onChange(cb: () => void): () => void;
  /** called when our member can no longer follow the group (member.ts): the call joins again as a new member */
  onLost(cb: (reason: string) => void): () => void;
  close(): void;
}

/** Teach `client` the MLS stanzas, and make the Delivery Service requests of a member as `<iq/>`s to the room. */
export function roomDeliveryService(client: Agent, roomJid: string): DsTransport {
  registerMls(client);
  return {
    async request(r: DsRequest): Promise<DsAnswer> {
      try {
        performance.mark(`parley:mls-tx:${r.kind}`);
        await client.sendIQ({ to: roomJid, type: "set", ...wireRequest(r) });
        performance.mark(`parley:mls-ack:${r.kind}`);
        return { ok: true };
      } catch (e) {
        const err = (e as { error?: { condition?: string; text?: string } }).error;
        return { ok: false, condition: err?.condition ?? "timeout", ...(err?.text ? { text: err.text } : {}) };
      }
    },
  };
}

/** Hand the room's MLS payloads (headlines from the room itself) to `receive`, in arrival order; returns the stop. */
export function onRoomPayloads(client: Agent, roomJid: string, receive: (p: RoomPayload) => void): () => void {
  registerMls(client);
  const onMessage = (msg: ReceivedMessage): void => {
    if (msg.type !== "headline" || !msg.from || !JID.equalBare(msg.from, roomJid) || JID.getResource(msg.from)) return;
    const p = payloadOf(msg);
    if (!p) return;
    performance.mark(`parley:mls-rx:${p.kind}`);
    receive(p);
  };
  client.on("message", onMessage);
  return () => client.off("message", onMessage);
}

/**
 * Run an MLS member over `client` for `room`: hands in a KeyPackage now (the session must be started), and a fresh
 * one after every reconnection of the same client.
 */
export async function startMls(client: Agent, roomJid: string): Promise<MlsSession> {
  registerMls(client);
  // the benchmarks' unencrypted baseline has no MLS either: nothing of end-to-end encryption runs (test-key-hook.ts)
  if (testPlaintext()) throw new Error("no MLS member: the page runs without end-to-end encryption (test hook)");
  if (typeof __PARLEY_MLS_WORKER_URL__ !== "string") throw new Error("MLS: no worker URL (built without build-web)");
  const worker = new Worker(__PARLEY_MLS_WORKER_URL__, { name: "parley-mls" });
  const member = new RemoteMember(worker, roomDeliveryService(client, roomJid));
  const stopPayloads = onRoomPayloads(client, roomJid, (p) => member.receive(p));
  worker.onerror = (e) => {
    console.warn(`MLS worker failed: ${e.message}`);
    member.fail("the MLS worker failed");
  };
  const publish = (): Promise<string> => {
    const p = member.publish();
    p.catch((e: unknown) => console.warn("MLS KeyPackage not made", e));
    return p;
  };
  let ready = publish();
  const onSession = (): void => void (ready = publish());
  client.on("session:started", onSession);
  return {
    keys: member,
    identity: () => member.identity,
    ready: () => ready,
    onChange: (cb) => member.onChange(cb),
    onLost: (cb) => member.onLost(cb),
    close() {
      stopPayloads();
      client.off("session:started", onSession);
      worker.terminate();
    },
  };
}
