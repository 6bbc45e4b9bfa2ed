/**
 * This page's member of the call's MLS group (RFC 9420), driven by the room as Delivery Service
 * (docs/e2ee-protocol.md §4). Transport-free: requests go out through a `DsTransport`, the room's payloads come in
 * through `receive`; the XMPP shell is mls-xmpp.ts. Everything runs one step at a time, in arrival order, so a commit
 * relayed by the room is processed before the commit request that follows it.
 *
 *  - `publish()`: a fresh KeyPackage for a fresh identity, handed to the room (from the hair check: the room hands it
 *    to the committer once this session joins, so joining costs one commit round trip). Called again for every new
 *    XMPP session: a rejoin is a new member, added with a fresh Welcome.
 *  - `<commit-request create='true'/>`: create the group (epoch 0) and give the room its GroupInfo.
 *  - `<commit-request epoch='N'>`: commit the Adds and Removes asked, if we are on epoch N; apply it only once the
 *    room accepted it. A refused commit (another won epoch N, `conflict`) is dropped: the room relays the winner
 *    and asks again on the new epoch, so the retry needs nothing from us but to answer that request.
 *  - `<commit epoch='N'>`: process the winner of epoch N. `<welcome>`: join.
 *  - A commit we cannot process, or one for an epoch after ours (we missed one), leaves us without the group's keys
 *    from then on: `onLost` listeners hear of it, and the call joins the room again as a new member (a new XMPP
 *    session, added with a fresh Welcome), as after a dropped connection.
 * Every new epoch's frame keys, member list and safety code are published through GroupKeySource (keys.ts).
 */
import { MlsGroup, newKeyPackage, type OwnKeyPackage } from "./group";
import { EpochSource } from "./epoch-source";

export type DsRequest =
  | { kind: "key-package"; keyPackage: Uint8Array }
  | { kind: "create"; groupInfo: Uint8Array }
  | { kind: "commit"; epoch: bigint; message: Uint8Array; groupInfo: Uint8Array; welcome?: Uint8Array; adds: string[]; removes: string[] };

/** The room's answer: accepted, or a stanza error (RFC 6120 §8.3). */
export type DsAnswer = { ok: true } | { ok: false; condition: string; text?: string };

export type RoomPayload =
  | { kind: "commit-request"; create: true }
  | { kind: "commit-request"; create: false; epoch: bigint; adds: { identity: string; keyPackage: Uint8Array }[]; removes: string[] }
  | { kind: "commit"; epoch: bigint; message: Uint8Array }
  | { kind: "welcome"; epoch: bigint; welcome: Uint8Array };

export interface DsTransport {
  request(r: DsRequest): Promise<DsAnswer>;
}

export interface MemberOptions {
  /** a fresh credential identity per session (unique in the room) */
  newIdentity?: () => string;
  newGroupId?: () => Uint8Array;
  log?: (msg: string) => void;
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

export class MlsMember extends EpochSource {
  readonly #ds: DsTransport;
  readonly #newIdentity: () => string;
  readonly #newGroupId: () => Uint8Array;
  #queue: Promise<void> = Promise.resolve();
  /** bumped by publish(): work of an earlier session is dropped */
  #generation = 0;
  #own: OwnKeyPackage | undefined;
  #group: MlsGroup | undefined;
  /** how many commit requests have come: a request that a newer one for the same epoch followed is not answered */
  #requests = 0;
  #latestRequestEpoch: bigint | undefined;

  constructor(ds: DsTransport, opts: MemberOptions = {}) {
    super(opts.log ?? ((m) => console.warn(`mls: ${m}`)));
    this.#ds = ds;
    this.#newIdentity = opts.newIdentity ?? (() => hex(crypto.getRandomValues(new Uint8Array(8))));
    this.#newGroupId = opts.newGroupId ?? (() => crypto.getRandomValues(new Uint8Array(16)));
  }

  /** Our identity in the current session (announced in our presence), once a KeyPackage was made. */
  get identity(): string | undefined {
    return this.#own?.identity;
  }

  /** Start over as a new member (a new XMPP session): forget the group, make and hand in a fresh KeyPackage. */
  publish(): Promise<string> {
    const gen = ++this.#generation;
    this.#group = undefined;
    this.setEpoch(undefined);
    const own = newKeyPackage(this.#newIdentity());
    void this.#enqueue(gen, async () => {
      this.#own = await own;
      const a = await this.#ds.request({ kind: "key-package", keyPackage: this.#own.encoded });
      if (!a.ok) this.log(`key package refused: ${a.condition} ${a.text ?? ""}`);
    });
    return own.then((o) => o.identity);
  }

  /** A payload from the room (in arrival order). */
  receive(p: RoomPayload): Promise<void> {
    if (p.kind === "commit-request" && !p.create) {
      const seq = ++this.#requests;
      this.#latestRequestEpoch = p.epoch;
      return this.#enqueue(this.#generation, () => this.#commit(seq, p.epoch, p.adds, p.removes));
    }
    return this.#enqueue(this.#generation, () => this.#handle(p));
  }

  /**
   * Has a newer commit request for `epoch` come since request `seq`? The room asks again whenever the work changes
   * (someone joins just as someone leaves, a rejoin's old session goes as its new one comes): the newer request holds
   * all of it, and answering the older one first would cost a whole extra commit round before the last change.
   */
  #superseded(seq: number, epoch: bigint): boolean {
    return seq !== this.#requests && this.#latestRequestEpoch === epoch;
  }

  // ---

  #enqueue(gen: number, fn: () => Promise<void>): Promise<void> {
    const run = async () => {
      if (gen !== this.#generation) return; // an earlier session's work
      try {
        await fn();
      } catch (e) {
        this.log(e instanceof Error ? e.message : String(e));
      }
    };
    this.#queue = this.#queue.then(run);
    return this.#queue;
  }

  async #handle(p: RoomPayload): Promise<void> {
    const own = this.#own;
    if (!own) return;
    switch (p.kind) {
      case "commit-request":
        if (p.create) return this.#create(own);
        return; // receive() queues those with their order (#commit)
      case "commit": {
        const g = this.#group;
        if (!g || p.epoch < g.epoch) return; // not ours to process (not a member yet, or already past it)
        if (p.epoch > g.epoch) return this.#lost(g, `the commit of epoch ${g.epoch} never came (got one of epoch ${p.epoch})`);
        try {
          await g.process(p.message);
        } catch (e) {
          return this.#lost(g, `the commit of epoch ${p.epoch} cannot be processed: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (g.removed) {
          this.#group = undefined;
          this.setEpoch(undefined);
          return;
        }
        return this.#announce(g);
      }
      case "welcome": {
        if (this.#group) return;
        const g = await MlsGroup.join(p.welcome, own);
        this.#group = g;
        return this.#announce(g);
      }
      default: {
        const never: never = p;
        throw new Error(`unknown payload ${JSON.stringify(never)}`);
      }
    }
  }

  async #create(own: OwnKeyPackage): Promise<void> {
    if (this.#group) return;
    const g = await MlsGroup.create(this.#newGroupId(), own);
    const a = await this.#ds.request({ kind: "create", groupInfo: await g.groupInfo() });
    if (!a.ok) return this.log(`create refused: ${a.condition} ${a.text ?? ""}`); // another was first: we will be added
    this.#group = g;
    await this.#announce(g);
  }

  async #commit(seq: number, epoch: bigint, adds: { identity: string; keyPackage: Uint8Array }[], removes: string[]): Promise<void> {
    const g = this.#group;
    if (!this.#own || !g || g.epoch !== epoch) return; // a request we cannot answer (the room asks another member in time)
    if (this.#superseded(seq, epoch)) return;
    const present = new Set(g.members().map((m) => m.identity));
    const add = adds.filter((a) => !present.has(a.identity));
    const remove = removes.filter((id) => present.has(id) && id !== this.#own?.identity);
    const p = await g.commit({ add: add.map((a) => a.keyPackage), remove });
    // Asked again while we built it: that commit is not sent (nothing is applied before the room accepts one).
    if (this.#superseded(seq, epoch) || g !== this.#group) return;
    const a = await this.#ds.request({
      kind: "commit",
      epoch,
      message: p.commit,
      groupInfo: p.groupInfo,
      ...(p.welcome ? { welcome: p.welcome } : {}),
      adds: add.map((x) => x.identity),
      removes: remove,
    });
    // refused (another commit won this epoch): the room relays it and asks again on the next epoch
    if (!a.ok) return this.log(`commit on epoch ${epoch} refused: ${a.condition} ${a.text ?? ""}`);
    g.apply(p);
    await this.#announce(g);
  }

  /** We cannot follow group `g` any more: forget it (its keys stay in use until new ones come) and say so. */
  #lost(g: MlsGroup, reason: string): void {
    if (this.#group !== g) return;
    this.#group = undefined;
    this.log(`lost the group: ${reason}`);
    this.groupLost(reason);
  }

  async #announce(g: MlsGroup): Promise<void> {
    const keys = await g.epochKeys();
    this.setEpoch({ keys, members: g.members().map((m) => ({ identity: m.identity, leaf: m.index })), code: g.safetyCode() });
  }

}
