/**
 * Minimal typings for @xmpp/client 0.14 (the package ships none): only what the interop helpers use.
 */
declare module "@xmpp/client" {
  import type { EventEmitter } from "node:events";

  export interface XmppJsElement {
    name: string;
    attrs: Record<string, string | undefined>;
    children: Array<XmppJsElement | string>;
    getChild(name: string, xmlns?: string): XmppJsElement | undefined;
    getChildren(name: string, xmlns?: string): XmppJsElement[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    is(name: string, xmlns?: string): boolean;
    toString(): string;
  }

  export interface XmppJsJid {
    local: string;
    domain: string;
    resource: string;
    toString(): string;
    bare(): XmppJsJid;
  }

  export interface XmppJsClient extends EventEmitter {
    jid: XmppJsJid | null;
    status: string;
    socket: { socket: { terminate?: () => void; close(): void } | null } | null;
    start(): Promise<XmppJsJid>;
    stop(): Promise<void>;
    send(...elements: XmppJsElement[]): Promise<void>;
    iqCaller: {
      request(el: XmppJsElement, timeout?: number): Promise<XmppJsElement>;
    };
    iqCallee: {
      get(ns: string, name: string, handler: (ctx: { stanza: XmppJsElement; element: XmppJsElement }) => unknown): void;
      set(ns: string, name: string, handler: (ctx: { stanza: XmppJsElement; element: XmppJsElement }) => unknown): void;
    };
  }

  export function client(options: {
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
  }): XmppJsClient;

  export function xml(
    name: string,
    attrs?: Record<string, string | undefined> | null,
    ...children: Array<XmppJsElement | string>
  ): XmppJsElement;
}
