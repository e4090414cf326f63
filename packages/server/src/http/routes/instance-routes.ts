import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PomboError, validationError } from '../../core/errors.ts';
import { type AppContext, requestKeyOf, authorizedInstance } from '../../app-context.ts';
import { INSTANCE_NAME, oneOf, optionalBoolean, optionalObject, optionalString, type Obj } from '../../core/validate.ts';
import { INTEGRATIONS, isSandboxed } from '../../instances/integration.ts';
import { TOKEN_TAKEN } from '../../instances/instance-service.ts';
import { hasSettings, parseSettings, SETTINGS_FIELDS, SETTINGS_KEY, settingsOf } from '../../instances/instance-settings.ts';
import type { Instance } from '../../store/types.ts';
import type { ChannelRegistry } from '../../channels/registry.ts';
import { apiSchema, booleanField, instanceParams, nullable, nullableFields, strictObject, stringField, type JsonSchema } from '../../core/schemas.ts';

/** The channel config keys `/instance/create` accepts, as in Evolution API. */
const CHANNEL_KEYS = ['webhook', 'websocket', 'rabbitmq', 'sqs', 'kafka', 'nats', 'pusher'] as const;

/**
 * Fields of Evolution API's `/instance/create` that Pombo has no use for (a business id, proxies, the flat v1 channel fields Evolution itself ignores): accepted, so an
 * Evolution client's body works unchanged, and ignored. Any other unknown field is refused.
 */
const EVOLUTION_IGNORED = [
  'businessId', 'proxyHost', 'proxyPort', 'proxyProtocol', 'proxyUsername', 'proxyPassword', 'webhookUrl', 'webhookByEvents',
  'webhookBase64', 'webhookEvents', 'webhookHeaders', 'rabbitmqEnabled', 'rabbitmqEvents', 'natsEnabled', 'natsEvents', 'sqsEnabled',
  'sqsEvents', 'websocketEnabled', 'websocketEvents',
];

function createBody(channels: ChannelRegistry): JsonSchema {
  const ignored: JsonSchema = { description: "Evolution API's field: accepted and ignored." };
  const channelConfigs = Object.fromEntries(
    CHANNEL_KEYS.map((key) => [key, nullable(channels.get(key)?.configSchema ?? { type: 'object', description: `The ${key} channel is not part of this server.` })]),
  );
  return strictObject(
    {
      instanceName: stringField('1 to 64 letters, digits, "-" or "_" (it becomes part of routing keys, subjects and queue names); unique.', {
        pattern: INSTANCE_NAME.source,
        'x-message': 'must be 1 to 64 letters, digits, "-" or "_" (it is used in routing keys, subjects and queue names)',
        example: 'alice',
      }),
      integration: nullable(stringField(`One of ${INTEGRATIONS.join(', ')} (any case; default SANDBOX): the sandbox network plays SANDBOX and WHATSAPP-BAILEYS numbers, a producer ingests the others' events.`)),
      ...nullableFields({
        token: stringField("The instance's key: at least 16 characters, not used by anything else; generated when missing."),
        number: stringField('8 to 15 digits, country code first; a fresh sandbox number at connect when missing.'),
        qrcode: booleanField('Connect a sandbox instance at once; the answer then has `qrcode`.'),
      }),
      ...SETTINGS_FIELDS,
      ...channelConfigs,
      ...Object.fromEntries(EVOLUTION_IGNORED.map((name) => [name, ignored])),
    },
    ['instanceName'],
    // Evolution's Chatwoot settings (chatwootAccountId, chatwootToken, …): accepted and ignored too.
    { patternProperties: { '^chatwoot[A-Z]': ignored } },
  );
}

const success = (message: string) => ({ status: 'SUCCESS', error: false, response: { message } });

export function instanceRoutes(app: FastifyInstance, context: AppContext): void {
  const { instances, auth, sandbox, channels } = context;

  const view = (instance: Instance, withToken: boolean) => ({
    id: instance.id,
    name: instance.name,
    connectionStatus: instance.state,
    ownerJid: instance.ownerJid,
    profileName: instance.profileName,
    integration: instance.integration,
    number: instance.number,
    ...(withToken ? { token: instance.token } : {}),
    createdAt: instance.createdAt,
  });

  const named = (summary: string) => apiSchema({ tag: 'Instances', summary, key: 'any', params: instanceParams });
  const create = apiSchema({ tag: 'Instances', summary: 'Create an instance', key: 'global', body: createBody(channels) });
  app.post('/instance/create', { schema: create }, async (request, reply) => {
    auth.requireGlobal(requestKeyOf(request));
    const body = request.body as Obj;
    const name = body.instanceName as string;
    const token = optionalString(body, 'token', 'token', 256);
    if (token !== undefined) {
      if (token.length < 16) throw validationError('token must be at least 16 characters long (or leave it out to get a generated one)');
      // identify knows the global key and every instance token.
      if (auth.identify(token)) {
        throw validationError(TOKEN_TAKEN);
      }
    }
    const integration = oneOf(body, 'integration', INTEGRATIONS, 'SANDBOX');
    const number = optionalString(body, 'number');
    if (number !== undefined && !/^\d{8,15}$/.test(number)) throw validationError('number must be 8 to 15 digits, country code first');
    if (number !== undefined && isSandboxed(integration) && sandbox.numberTaken(number)) {
      throw validationError(`number ${number} is already another instance's: each sandbox number belongs to one instance`);
    }
    const max = context.config.limits.instanceMax;
    if (instances.count >= max) throw new PomboError('POMBO_ERR_LIMIT_REACHED', { what: `this server has ${instances.count} instances`, limit: max, variable: 'INSTANCE_MAX' });
    // As in Evolution API: a Cloud API instance is its phone number id.
    if (integration === 'WHATSAPP-BUSINESS' && number === undefined) throw validationError('number is required for WHATSAPP-BUSINESS (the phone number id of the WhatsApp Business account)');
    const connectNow = optionalBoolean(body, 'qrcode') ?? false;
    const configs: Record<string, unknown> = {};
    for (const key of CHANNEL_KEYS) {
      const config = optionalObject(body, key);
      if (!config) continue;
      const module = channels.get(key);
      const parsed = module ? await module.parseConfig(config, key) : config;
      // A new instance has no events yet: position 0.
      configs[key] = module?.replacing ? module.replacing(undefined, parsed, { now: Date.now(), position: 0 }) : parsed;
    }
    // Evolution API takes the instance's settings (rejectCall, groupsIgnore, …) at the top of the body.
    if (hasSettings(body)) configs[SETTINGS_KEY] = parseSettings(body);
    let instance = await instances.create({ instanceName: name, token, integration, number, channels: configs });
    const qrcode = connectNow && isSandboxed(integration) ? await sandbox.connect(instance) : undefined;
    instance = instances.get(name);
    const created = instance;
    const described = await Promise.all(CHANNEL_KEYS.filter((key) => configs[key]).map(async (key) => [key, (await channels.get(key)?.describe(created)) ?? configs[key]]));
    reply.code(201);
    return {
      // Evolution API's `webhookWaBusiness` and `accessTokenWaBusiness` are its Meta webhook's address and verify token:
      // Pombo receives no Meta webhook (a producer ingests those events), so both are null, and no secret is shown.
      instance: { instanceName: instance.name, instanceId: instance.id, integration: instance.integration, webhookWaBusiness: null, accessTokenWaBusiness: null, status: instance.state },
      hash: instance.token,
      ...Object.fromEntries(described),
      settings: settingsOf(instance),
      ...(qrcode ? { qrcode } : {}),
    };
  });

  const fetchInstances = apiSchema({
    tag: 'Instances',
    summary: 'List instances (an instance token lists only its own)',
    key: 'any',
    querystring: strictObject({ instanceName: stringField('Only this instance.'), instanceId: stringField('Only the instance with this id.') }),
  });
  app.get<{ Querystring: { instanceName?: string; instanceId?: string } }>('/instance/fetchInstances', { schema: fetchInstances }, async (request) => {
    const principal = auth.require(requestKeyOf(request));
    const { instanceName: name, instanceId } = request.query;
    return instances
      .list()
      .filter((instance) => principal.kind === 'global' || instance.id === principal.instanceId)
      .filter((instance) => (name ? instance.name === name : true) && (instanceId ? instance.id === instanceId : true))
      .map((instance) => view(instance, true));
  });

  app.get<{ Params: { instanceName: string } }>('/instance/connect/:instanceName', { schema: named('Connect a sandbox instance (answers its QR code)') }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    return sandbox.connect(instance);
  });

  app.get<{ Params: { instanceName: string } }>('/instance/connectionState/:instanceName', { schema: named('The connection state of an instance') }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    return { instance: { instanceName: instance.name, state: instance.state } };
  });

  // Evolution API 2 restarts with POST, version 1 with PUT: both work.
  const restartSchema = named('Restart a sandbox instance (it reconnects at once)');
  const restart = async (request: FastifyRequest<{ Params: { instanceName: string } }>) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const restarted = await sandbox.restart(instance);
    return { instance: { instanceName: restarted.name, state: restarted.state } };
  };
  app.post<{ Params: { instanceName: string } }>('/instance/restart/:instanceName', { schema: restartSchema }, restart);
  app.put<{ Params: { instanceName: string } }>('/instance/restart/:instanceName', { schema: restartSchema }, restart);

  app.delete<{ Params: { instanceName: string } }>('/instance/logout/:instanceName', { schema: named('Log an instance out') }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    await instances.logout(instance);
    return success('Instance logged out');
  });

  app.delete<{ Params: { instanceName: string } }>('/instance/delete/:instanceName', { schema: named('Delete an instance') }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    await instances.delete(instance);
    sandbox.forget(instance);
    return success('Instance deleted');
  });
}
