/**
 * The MLS worker: this page's member of the call's MLS group (member.ts, with ts-mls) runs here, off the main thread;
 * the page talks to it through RemoteMember (mls-remote.ts).
 */
import { MlsMember } from "./member";
import { serveMember, type Endpoint } from "./mls-remote";

serveMember(self as unknown as Endpoint, (ds) => new MlsMember(ds));
