import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdge, type EdgeHandle } from "./helpers/wrangler-dev";

describe("wrangler dev edge", () => {
  let edge: EdgeHandle;
  beforeAll(async () => {
    edge = await startEdge();
  });
  afterAll(async () => {
    await edge?.stop();
  });
  it("serves the web app", async () => {
    const r = await fetch(`${edge.httpUrl}/`);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("Parley");
  });
});
