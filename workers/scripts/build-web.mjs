// Build the web app into dist/web (served by Workers static assets). Placeholder until the app lands (issue 4).
import { cpSync, mkdirSync } from "node:fs";
mkdirSync("dist/web", { recursive: true });
cpSync("workers/web/index.html", "dist/web/index.html");
console.log("web app built into dist/web");
