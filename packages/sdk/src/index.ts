/** Pombo's TypeScript SDK: realtime subscriptions with acknowledgements, webhook verification, REST helpers. */
export {};
