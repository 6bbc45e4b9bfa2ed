/**
 * The call's end-to-end encryption glue (part of the call shell, call.ts): our MLS member (e2ee/mls-xmpp.ts) and the
 * identity our presences announce with it, its group keys handed to the page's frame encryption (e2ee/key-relay.ts),
 * the safety panel (safety.ts) with the identities the occupants announce, the call screen's encryption badge
 * following the keys (e2ee/call-encryption.ts), and a new membership when ours lost the group. The protocol:
 * docs/e2ee-protocol.md.
 */
import { callEncryption } from "../e2ee/call-encryption";
import { pageKeys } from "../e2ee/key-relay";
import type { MlsSession } from "../e2ee/mls-xmpp";
import { withTimeout } from "./room-admin";
import { SafetyPanel } from "./safety";
import type { CallView } from "./view";

/** How long a join waits for our KeyPackage (its identity goes in the join presence) before it goes without. */
const KEY_PACKAGE_WAIT_MS = 5000;

export class CallE2ee {
  /** Our MLS member, once ts-mls has loaded (undefined if it could not start). */
  readonly #mls: Promise<MlsSession | undefined>;
  #mlsNow: MlsSession | undefined;
  /** the safety code and group members on the call screen, once the MLS member runs */
  #safety: SafetyPanel | undefined;
  /** occupants' MLS identities from their presence (for the safety panel) */
  readonly #ids = new Map<string, string | undefined>();
  /** Stops following the group keys for the badge. */
  #unfollowKeys: () => void = () => undefined;

  /**
   * `keysLost`: our member can no longer follow the group (a commit it cannot process, or one it missed); the call
   * then joins the room again as a new member (call machine, `keys-lost`).
   */
  constructor(mls: Promise<MlsSession>, view: CallView, left: () => boolean, keysLost: () => void) {
    this.#mls = mls.then(
      (m) => (this.#mlsNow = m),
      (e: unknown) => void console.warn("MLS member not started", e),
    );
    const e2ee = callEncryption();
    if (e2ee) {
      const show = (): void => view.setE2ee(e2ee.active());
      show();
      this.#unfollowKeys = e2ee.onChange(show);
    }
    void this.#mls.then((m) => {
      if (!m || left()) return;
      pageKeys.use(m.keys); // call encryption's keys (hair-check.ts provided pageKeys)
      const panel = new SafetyPanel(m.keys, () => m.identity());
      this.#safety = panel;
      for (const [nick, id] of this.#ids) panel.setOccupant(nick, id);
      view.addToHeader(panel.root);
      m.onChange(() => panel.update());
      m.onLost(keysLost);
    });
  }

  /** Before a join presence: our KeyPackage (made on the hair check, or after a reconnection) names its identity. */
  async beforeJoin(): Promise<void> {
    const mls = await this.#mls;
    if (mls) await withTimeout(mls.ready(), KEY_PACKAGE_WAIT_MS, "mls").catch(() => undefined);
  }

  /**
   * Our MLS identity for our presence, so that others match us with our group member; every presence carries it,
   * since the room keeps only the last one.
   */
  presence(): { parleyMls?: { identity: string } } {
    const identity = this.#mlsNow?.identity();
    return identity ? { parleyMls: { identity } } : {};
  }

  /** An occupant's presence with the identity it announces (undefined: none), or its departure (null). */
  occupant(nick: string, identity: string | undefined | null): void {
    if (identity === null) this.#ids.delete(nick);
    else this.#ids.set(nick, identity);
    this.#safety?.setOccupant(nick, identity);
  }

  /** Leaving: the badge stops following the keys, the panel's timer and our member stop. */
  close(): void {
    this.#unfollowKeys();
    this.#safety?.close();
    this.#mlsNow?.close();
  }
}
