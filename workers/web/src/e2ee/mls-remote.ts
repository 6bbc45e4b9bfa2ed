/**
 * The MLS member (member.ts) runs in its own worker (mls-worker.ts), off the page's main thread: its KeyPackages,
 * commits and Welcomes are public-key cryptography in JavaScript (ts-mls), tens of milliseconds each on a busy or
 * cold page, which would otherwise hold up the call's signaling and rendering at the very moment someone joins.
 *
 * This module is both ends of that boundary, over any MessagePort-like endpoint:
 *  - `serveMember` (worker side) drives a member: publish and payloads in; the member's Delivery Service requests out
 *    (answered by the page, which owns the XMPP session); every epoch change out;
 *  - `RemoteMember` (page side) is the member as the page sees it: a GroupKeySource with the same methods as
 *    MlsMember, kept in step by the worker's messages, so frame encryption and the safety panel read it synchronously.
 * Only types come from member.ts here: the page never loads ts-mls.
 */
import { EpochSource, type EpochView } from "./epoch-source";
import type { EpochKeys, GroupMember } from "./keys";
import type { DsAnswer, DsRequest, DsTransport, RoomPayload } from "./member";

type ToMember = { t: "publish"; n: number } | { t: "receive"; p: RoomPayload } | { t: "answer"; id: number; a: DsAnswer };
type FromMember =
  | { t: "published"; n: number; identity: string }
  | { t: "publish-failed"; n: number; message: string }
  | { t: "request"; id: number; r: DsRequest }
  | { t: "epoch"; epoch: EpochView | undefined }
  | { t: "lost"; reason: string };

/** A MessagePort, a Worker, or a worker's global scope. */
export interface Endpoint {
  postMessage(m: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
}

/** What serveMember needs of the member (MlsMember). */
interface ServedMember {
  publish(): Promise<string>;
  receive(p: RoomPayload): Promise<void>;
  current(): EpochKeys | undefined;
  members(): GroupMember[];
  safetyCode(): string | undefined;
  onChange(cb: () => void): () => void;
  onLost(cb: (reason: string) => void): () => void;
}

/** Worker side: run the member `make` returns, with its Delivery Service requests answered by the page. */
export function serveMember(port: Endpoint, make: (ds: DsTransport) => ServedMember): void {
  const answers = new Map<number, (a: DsAnswer) => void>();
  let nextId = 1;
  const post = (m: FromMember): void => port.postMessage(m);
  const member = make({
    request(r) {
      const id = nextId++;
      return new Promise<DsAnswer>((resolve) => {
        answers.set(id, resolve);
        post({ t: "request", id, r });
      });
    },
  });
  member.onChange(() => {
    const keys = member.current();
    post({ t: "epoch", epoch: keys ? { keys, members: member.members(), code: member.safetyCode() ?? "" } : undefined });
  });
  member.onLost((reason) => post({ t: "lost", reason }));
  port.onmessage = (e: MessageEvent) => {
    const m = e.data as ToMember;
    switch (m.t) {
      case "publish":
        return void member.publish().then(
          (identity) => post({ t: "published", n: m.n, identity }),
          (err: unknown) => post({ t: "publish-failed", n: m.n, message: err instanceof Error ? err.message : String(err) }),
        );
      case "receive":
        return void member.receive(m.p);
      case "answer":
        answers.get(m.id)?.(m.a);
        answers.delete(m.id);
        return;
      default: {
        const never: never = m;
        throw new Error(`unknown message ${JSON.stringify(never)}`);
      }
    }
  };
}

/** Page side: the member in the worker behind `port`, its Delivery Service requests sent through `ds`. */
export class RemoteMember extends EpochSource {
  readonly #port: Endpoint;
  readonly #published = new Map<number, { resolve: (identity: string) => void; reject: (e: Error) => void }>();
  #n = 0;
  #identity: string | undefined;

  constructor(port: Endpoint, ds: DsTransport) {
    super((m) => console.warn(`mls: ${m}`));
    this.#port = port;
    port.onmessage = (e: MessageEvent) => {
      const m = e.data as FromMember;
      switch (m.t) {
        case "published": {
          if (m.n === this.#n) this.#identity = m.identity;
          this.#published.get(m.n)?.resolve(m.identity);
          this.#published.delete(m.n);
          return;
        }
        case "publish-failed":
          this.#published.get(m.n)?.reject(new Error(m.message));
          this.#published.delete(m.n);
          return;
        case "request":
          return void ds.request(m.r).then((a) => this.#port.postMessage({ t: "answer", id: m.id, a } satisfies ToMember));
        case "epoch":
          return this.setEpoch(m.epoch);
        case "lost":
          return this.groupLost(m.reason);
        default: {
          const never: never = m;
          throw new Error(`unknown message ${JSON.stringify(never)}`);
        }
      }
    };
  }

  /** Our identity in the current session (announced in our presence), once its KeyPackage was made. */
  get identity(): string | undefined {
    return this.#identity;
  }

  /** Start over as a new member (member.ts publish): the old group's keys are gone at once. */
  publish(): Promise<string> {
    const n = ++this.#n;
    this.setEpoch(undefined);
    this.#port.postMessage({ t: "publish", n } satisfies ToMember);
    return new Promise((resolve, reject) => this.#published.set(n, { resolve, reject }));
  }

  /** A payload from the room, in arrival order (the worker handles them in the order posted). */
  receive(p: RoomPayload): void {
    this.#port.postMessage({ t: "receive", p } satisfies ToMember);
  }

  /** The worker could not run (it failed to load): every pending publish fails, no keys will come. */
  fail(message: string): void {
    for (const p of this.#published.values()) p.reject(new Error(message));
    this.#published.clear();
  }
}
