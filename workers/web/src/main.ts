/**
 * Parley web app entry: `/` is the landing page, `/<room>` the hair check (which loads the call code on Join).
 * Only this file, the landing page and the hair check are in the initial bundle; StanzaJS and mediasoup-client
 * are loaded with dynamic import() when needed (see workers/scripts/build-web.mjs, `npm run bench:web-size`).
 */
import { appRoot } from "./dom";
import { renderHairCheck } from "./hair-check";
import { renderLanding } from "./landing";
import { ROOM_NAME } from "../../../contract/room-name";

function route(): void {
  const root = appRoot();
  const path = decodeURIComponent(location.pathname.replace(/^\/+|\/+$/g, ""));
  if (path === "") {
    document.title = "Parley";
    renderLanding(root);
  } else if (ROOM_NAME.test(path)) {
    document.title = `${path} · Parley`;
    renderHairCheck(root, path);
  } else {
    renderLanding(root, `“${path}” is not a room name: use lower-case letters, digits and dashes (up to 64).`);
  }
}

route();
