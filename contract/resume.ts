/**
 * `urn:parley:resume:0`: a secret in a join presence that lets the same person take their occupancy back from a new
 * connection after a network change (durable/features/muc-resume.ts; sent by the web app, call/room-stanzas.ts).
 */
export const NS_RESUME = "urn:parley:resume:0";
