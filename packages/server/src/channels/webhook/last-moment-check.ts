import { DecoratorHandler, type Dispatcher } from 'undici';

/** A request `mayStart` withdrew when undici was about to write it: it never left this process. */
export class SendWithdrawn extends Error {
  constructor() {
    super('not sent: this node can no longer be sure the destination is still its own');
    this.name = 'SendWithdrawn';
  }
}

/** Request options that carry the last check (`SendContext.mayStart`). */
export interface CheckedRequest {
  mayStart?: () => boolean;
}

/** `handler` with `mayStart` asked in `onConnect`, which undici calls right before it writes the request on its connection. */
function lastMomentHandler(handler: Dispatcher.DispatchHandlers, mayStart: () => boolean): Dispatcher.DispatchHandlers {
  const decorated: Dispatcher.DispatchHandlers = new DecoratorHandler(handler);
  const onConnect = decorated.onConnect?.bind(decorated);
  decorated.onConnect = (abort) => (mayStart() ? onConnect?.(abort) : abort(new SendWithdrawn()));
  return decorated;
}

/**
 * An interceptor that asks a request's `mayStart` once more at the last moment, once a connection is
 * ready and the request is about to be written: a request that waited for a connection, or whose
 * process was paused between the worker's check and the write, is withdrawn (SendWithdrawn) instead of
 * leaving after the node lost its lease, behind the new holder's deliveries.
 */
export const lastMomentCheck: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => {
  const mayStart = (options as CheckedRequest).mayStart;
  return dispatch(options, mayStart ? lastMomentHandler(handler, mayStart) : handler);
};
