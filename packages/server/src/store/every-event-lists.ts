/**
 * Instance configs once stored an `events` list that meant every event as every key there was; they
 * store no list for it now (`selectedKeys`, core/event-names.ts), so that events added later are in.
 * One migration of each store (sqlite/schema.ts, postgres/postgres-schema.ts) rewrites the lists
 * stored before, anywhere in an instance's `channels`, so that each reads as it read until then:
 *
 * - a list holding every key below and WEBHOOK_DISABLED meant every event: it is removed;
 * - a list holding every key below but not WEBHOOK_DISABLED was stored before that event was added,
 *   and was read as every event but that one: it gets STATUS_INSTANCE (added since), if it lacks it,
 *   and stays a list. So does a realtime config's list (names it was given: it stores every event as
 *   an empty list already);
 * - any other list stays as it is.
 *
 * The keys are written out, not taken from the event table: the table grows, the old lists do not.
 */
export const KEYS_BEFORE_STATUS_INSTANCE_JSON = JSON.stringify([
  'APPLICATION_STARTUP',
  'INSTANCE_CREATE',
  'INSTANCE_DELETE',
  'QRCODE_UPDATED',
  'CONNECTION_UPDATE',
  'REMOVE_INSTANCE',
  'LOGOUT_INSTANCE',
  'MESSAGES_SET',
  'MESSAGES_UPSERT',
  'MESSAGES_UPDATE',
  'MESSAGES_DELETE',
  'MESSAGES_EDITED',
  'SEND_MESSAGE',
  'SEND_MESSAGE_UPDATE',
  'CONTACTS_SET',
  'CONTACTS_UPSERT',
  'CONTACTS_UPDATE',
  'CHATS_SET',
  'CHATS_UPSERT',
  'CHATS_UPDATE',
  'CHATS_DELETE',
  'PRESENCE_UPDATE',
  'GROUPS_UPSERT',
  'GROUPS_UPDATE',
  'GROUP_PARTICIPANTS_UPDATE',
  'LABELS_EDIT',
  'LABELS_ASSOCIATION',
  'CALL',
  'TYPEBOT_START',
  'TYPEBOT_CHANGE_STATUS',
  'ERRORS',
]);
