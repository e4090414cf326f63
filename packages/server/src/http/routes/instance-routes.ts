import type { FastifyInstance } from 'fastify';
import { validationError } from '../../core/errors.ts';
import { secretsEqual } from '../../core/auth.ts';
import { type AppContext, apikeyOf, authorizedInstance } from '../../app-context.ts';
import { instanceName, object, oneOf, optionalBoolean, optionalObject, optionalString } from '../../core/validate.ts';
import { INTEGRATIONS, isSandboxed } from '../../instances/integration.ts';
import type { Instance } from '../../store/types.ts';

/** The channel config keys `/instance/create` accepts, as in Evolution API. */
const CHANNEL_KEYS = ['webhook', 'websocket', 'rabbitmq', 'sqs', 'kafka', 'nats', 'pusher'] as const;

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

  app.post('/instance/create', async (request, reply) => {
    auth.requireGlobal(apikeyOf(request));
    const body = object(request.body, 'body');
    const name = instanceName(body.instanceName);
    const token = optionalString(body, 'token');
    if (token !== undefined) {
      if (token.length < 16) throw validationError('token must be at least 16 characters long (or leave it out to get a generated one)');
      if (secretsEqual(token, context.config.auth.apiKey) || auth.identify(token)) {
        throw validationError('token is already in use: choose another one, or leave it out to get a generated one');
      }
    }
    const integration = oneOf(body, 'integration', INTEGRATIONS, 'SANDBOX');
    const number = optionalString(body, 'number');
    if (number !== undefined && !/^\d{8,15}$/.test(number)) throw validationError('number must be 8 to 15 digits, country code first');
    // As in Evolution API: a Cloud API instance is its phone number id.
    if (integration === 'WHATSAPP-BUSINESS' && number === undefined) throw validationError('number is required for WHATSAPP-BUSINESS (the phone number id of the WhatsApp Business account)');
    const connectNow = optionalBoolean(body, 'qrcode') ?? false;
    const configs: Record<string, unknown> = {};
    for (const key of CHANNEL_KEYS) {
      const config = optionalObject(body, key);
      if (!config) continue;
      const module = channels.get(key);
      configs[key] = module ? module.parseConfig(config, key) : config;
    }
    let instance = await instances.create({ instanceName: name, token, integration, number, channels: configs });
    const qrcode = connectNow && isSandboxed(integration) ? await sandbox.connect(instance) : undefined;
    instance = instances.get(name);
    reply.code(201);
    return {
      instance: { instanceName: instance.name, instanceId: instance.id, integration: instance.integration, status: instance.state },
      hash: instance.token,
      ...Object.fromEntries(CHANNEL_KEYS.filter((key) => configs[key]).map((key) => [key, channels.get(key)?.describe(instance) ?? configs[key]])),
      ...(qrcode ? { qrcode } : {}),
    };
  });

  app.get<{ Querystring: { instanceName?: string; instanceId?: string } }>('/instance/fetchInstances', async (request) => {
    const principal = auth.require(apikeyOf(request));
    const { instanceName: name, instanceId } = request.query;
    return instances
      .list()
      .filter((instance) => principal.kind === 'global' || instance.id === principal.instanceId)
      .filter((instance) => (name ? instance.name === name : true) && (instanceId ? instance.id === instanceId : true))
      .map((instance) => view(instance, true));
  });

  app.get<{ Params: { instanceName: string } }>('/instance/connect/:instanceName', async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    return sandbox.connect(instance);
  });

  app.get<{ Params: { instanceName: string } }>('/instance/connectionState/:instanceName', async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    return { instance: { instanceName: instance.name, state: instance.state } };
  });

  app.delete<{ Params: { instanceName: string } }>('/instance/logout/:instanceName', async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    await instances.logout(instance);
    return success('Instance logged out');
  });

  app.delete<{ Params: { instanceName: string } }>('/instance/delete/:instanceName', async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    await instances.delete(instance);
    return success('Instance deleted');
  });
}
