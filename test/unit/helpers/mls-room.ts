/**
 * A room for MLS member tests: the room's real Delivery Service logic (durable/features/mls-delivery.ts, pure) with
 * members by session; requests go straight into the Delivery Service, its payloads are parsed from the XML it
 * produces and delivered asynchronously, in order. Members are MlsMember (member.ts) in this thread, or RemoteMember
 * (mls-remote.ts) talking over a real MessageChannel to an MlsMember served as the MLS worker serves it.
 */
import { childElements, parseFrame, text } from "../../../durable/xmpp/xml";
import { handleRequest, newDs, occupantJoined, sessionLeft, type DsEffect, type DsState } from "../../../durable/features/mls-delivery";
import { peekGroupInfo, peekKeyPackage, type MlsRequest } from "../../../durable/features/mls-wire";
import { MlsMember, type DsAnswer, type DsRequest, type RoomPayload } from "../../../workers/web/src/e2ee/member";
import { RemoteMember, serveMember } from "../../../workers/web/src/e2ee/mls-remote";

const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The room's payload XML as the member's shell would hand it over. */
function payload(xml: string): RoomPayload {
  const el = parseFrame(xml)[0]!;
  const epoch = el.attrs["epoch"] === undefined ? undefined : BigInt(el.attrs["epoch"]);
  switch (el.local) {
    case "commit-request":
      if (el.attrs["create"] === "true") return { kind: "commit-request", create: true };
      return {
        kind: "commit-request",
        create: false,
        epoch: epoch!,
        adds: childElements(el).filter((c) => c.local === "add").map((c) => ({ identity: c.attrs["identity"]!, keyPackage: fromB64(text(c)) })),
        removes: childElements(el).filter((c) => c.local === "remove").map((c) => c.attrs["identity"]!),
      };
    case "commit":
      return { kind: "commit", epoch: epoch!, message: fromB64(text(el)) };
    case "welcome":
      return { kind: "welcome", epoch: epoch!, welcome: fromB64(text(el)) };
    default:
      throw new Error(`unexpected payload ${xml}`);
  }
}

function toDs(r: DsRequest): MlsRequest {
  switch (r.kind) {
    case "key-package":
      return { kind: "key-package", keyPackage: r.keyPackage, identity: peekKeyPackage(r.keyPackage).identity };
    case "create":
      return { kind: "create", groupInfo: r.groupInfo, groupId: peekGroupInfo(r.groupInfo).groupId };
    case "commit":
      return { kind: "commit", epoch: r.epoch, message: r.message, groupInfo: r.groupInfo, welcome: r.welcome, adds: r.adds, removes: r.removes };
  }
}

/** A room: the Delivery Service plus members by session; payloads are delivered asynchronously, in order. */
export class Room {
  readonly ds: DsState = newDs();
  readonly members = new Map<string, MlsMember | RemoteMember>();
  /** the session each member speaks from now (a reconnection changes it) */
  readonly sessions = new Map<MlsMember | RemoteMember, string>();
  now = 1000;
  /** requests the room holds back (to make two commits race) */
  hold: ((go: () => void) => void) | undefined;
  #pending: Promise<unknown>[] = [];

  member(session: string, identities: string[]): MlsMember {
    let n = 0;
    const m: MlsMember = new MlsMember(
      {
        request: (r) => this.#request(this.sessions.get(m)!, r),
      },
      { newIdentity: () => identities[n++]!, log: () => undefined },
    );
    this.members.set(session, m);
    this.sessions.set(m, session);
    return m;
  }
  /** A member in a worker: RemoteMember here, MlsMember at the other end of a MessageChannel. */
  remoteMember(session: string, identities: string[]): RemoteMember {
    let n = 0;
    const { port1, port2 } = new MessageChannel();
    serveMember(port2, (ds) => new MlsMember(ds, { newIdentity: () => identities[n++]!, log: () => undefined }));
    const m: RemoteMember = new RemoteMember(port1, { request: (r) => this.#request(this.sessions.get(m)!, r) });
    this.members.set(session, m);
    this.sessions.set(m, session);
    return m;
  }
  /** `m` reconnected: it now speaks from `session`. */
  reconnect(m: MlsMember | RemoteMember, session: string): void {
    this.members.set(session, m);
    this.sessions.set(m, session);
  }
  async #request(session: string, r: DsRequest): Promise<DsAnswer> {
    if (this.hold && r.kind === "commit") await new Promise<void>((go) => this.hold!(go));
    const o = handleRequest(this.ds, session, toDs(r), this.now);
    this.deliver(o.effects);
    return o.ok ? { ok: true } : { ok: false, condition: o.error.condition, ...(o.error.text ? { text: o.error.text } : {}) };
  }
  deliver(effects: DsEffect[]): void {
    for (const e of effects) if (e.kind === "send") this.#pending.push(Promise.resolve(this.members.get(e.session)!.receive(payload(e.payload))));
  }
  join(session: string): void {
    this.deliver(occupantJoined(this.ds, session, this.now++));
  }
  leave(session: string): void {
    this.deliver(sessionLeft(this.ds, session, true, this.now++));
  }
  /** Wait until no payload is in flight. */
  async settle(): Promise<void> {
    while (this.#pending.length) await Promise.all(this.#pending.splice(0));
  }
}

