import { PomboError, validationError } from '../../core/errors.ts';
import type { AppContext } from '../../app-context.ts';
import { SANDBOX_TEXT_MAX, type SentMessage } from '../../sources/sandbox/sandbox-network.ts';
import { object, phone, string } from '../../core/validate.ts';
import { ackError, asPomboError } from './socket-errors.ts';
import { limitOf, type PomboSocket } from './socket-types.ts';

export const SEND_MESSAGE = 'send_message';

type Ack = (answer: unknown) => void;

async function send(context: AppContext, socket: PomboSocket, payload: unknown): Promise<SentMessage> {
  // A token's socket sends from its own instance, on `/` as in its namespace; the global key's on `/` names none.
  const own = limitOf(socket.data.scope);
  if (!own) {
    throw validationError(`${SEND_MESSAGE} sends from one instance: emit it in the instance's namespace "/<instanceName>"`);
  }
  const instance = context.instances.findById(own.instanceId);
  if (!instance) throw new PomboError('POMBO_ERR_INSTANCE_NOT_FOUND', { instance: own.instanceName });
  const body = object(payload, SEND_MESSAGE);
  return context.sandbox.sendText(instance, phone(body.number, `${SEND_MESSAGE}.number`), string(body, 'text', `${SEND_MESSAGE}.text`, SANDBOX_TEXT_MAX));
}

/**
 * `socket.emit('send_message', {number, text}, ack)`: sends through the instance's source (the
 * sandbox), as `POST /message/sendText` does, and answers `{ok: true, message}` or
 * `{ok: false, error: {code, message}}` through the ack callback (when the client passed one).
 */
export function onSendMessage(context: AppContext, socket: PomboSocket): void {
  socket.on(SEND_MESSAGE, (payload: unknown, ack?: unknown) => {
    const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => undefined;
    send(context, socket, payload).then(
      (message) => reply({ ok: true, message }),
      (error: unknown) => reply(ackError(asPomboError(error, context.log))),
    );
  });
}
