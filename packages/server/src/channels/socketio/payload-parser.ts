import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';

/**
 * An event payload already serialized to JSON. One event can go out under up to three names (its
 * dotted name in its namespace, its instance's name and `*` on `/`) and to every connected socket:
 * the fan-out serializes its envelope once and the encoder splices the JSON into each packet.
 */
export class SerializedPayload {
  constructor(readonly json: string) {}

  /** For an encoder that does not know this class (a remote adapter): the payload as a plain value. */
  toJSON(): unknown {
    return JSON.parse(this.json);
  }
}

/**
 * socket.io's encoder, with a fast path for `emit(name, SerializedPayload)`: the packet text is the
 * one the default encoder would write (`2/nsp,["name",{…}]`), without walking the payload for
 * binary data or serializing it again.
 */
class PayloadEncoder extends Encoder {
  override encode(packet: Packet): ReturnType<Encoder['encode']> {
    const data: unknown = packet.data;
    if (packet.type === PacketType.EVENT && packet.id == null && Array.isArray(data) && data.length === 2) {
      const [name, payload] = data as [unknown, unknown];
      if (payload instanceof SerializedPayload) {
        const nsp = packet.nsp === '/' ? '' : `${packet.nsp},`;
        return [`${PacketType.EVENT}${nsp}[${JSON.stringify(name)},${payload.json}]`];
      }
    }
    return super.encode(packet);
  }
}

/** The `parser` option of the Socket.IO server: the same wire format as socket.io's default parser. */
export const payloadParser = { Encoder: PayloadEncoder, Decoder };
