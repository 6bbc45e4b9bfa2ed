/**
 * Room names, one rule for every part: the edge routes `/xmpp-websocket/<room>` and hands the name to the room's
 * Durable Object, the room JID is `<room>@conference.<domain>` (jid.ts), a bridge host names its rooms and control
 * paths after it (`/v1/rooms/<room>`, `/rooms/<room>`), and the web app serves `/<room>`.
 */
import { z } from "zod";

export const ROOM_NAME = /^[a-z0-9-]{1,64}$/;

/** The rule as zod (an edge or bridge boundary); marked pure so the web app's bundle does not pull zod in. */
export const RoomNameSchema = /* @__PURE__ */ z
  .string()
  .regex(ROOM_NAME, "room names are 1 to 64 characters from a-z, 0-9 and '-'");
