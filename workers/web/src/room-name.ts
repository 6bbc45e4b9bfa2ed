/**
 * Room names as people meet them: the rule is contract/room-name.ts; new rooms get a readable random name like
 * `brave-otter-42`, and what someone types is normalised into a valid name.
 */
import { ROOM_NAME } from "../../../contract/room-name";

const ADJECTIVES = [
  "brave", "calm", "clever", "cosy", "eager", "gentle", "happy", "jolly", "kind", "lively",
  "lucky", "mellow", "merry", "nimble", "proud", "quick", "quiet", "sunny", "swift", "witty",
  "bold", "bright", "cheery", "daring", "fancy", "fresh", "golden", "humble", "keen", "noble",
] as const;
const ANIMALS = [
  "otter", "badger", "falcon", "heron", "koala", "lynx", "marmot", "panda", "puffin", "quokka",
  "raven", "seal", "tiger", "walrus", "yak", "zebra", "beaver", "bison", "crane", "dolphin",
  "ferret", "gecko", "ibis", "jaguar", "lemur", "moose", "newt", "owl", "robin", "wombat",
] as const;

function pick<T>(list: readonly T[], rnd: number): T {
  return list[rnd % list.length] as T;
}

/** A readable random room name (adjective-animal-number), from the platform CSPRNG. */
export function randomRoomName(random: (n: number) => Uint32Array = (n) => crypto.getRandomValues(new Uint32Array(n))): string {
  const [a = 0, b = 0, c = 0] = random(3);
  return `${pick(ADJECTIVES, a)}-${pick(ANIMALS, b)}-${(c % 90) + 10}`;
}

/**
 * Turn what a person typed into a room name: lower case, spaces and other separators become "-", anything else
 * outside [a-z0-9-] is dropped. Returns undefined when nothing usable is left.
 */
export function normaliseRoomName(input: string): string | undefined {
  const s = input
    .trim()
    .toLowerCase()
    .replace(/^https?:\/\/[^/]+\//, "")
    .replace(/[\s_.]+/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 64);
  return ROOM_NAME.test(s) ? s : undefined;
}
