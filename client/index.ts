/** The Roaming client package: the typed client and the API's wire types (generated from openapi.json). */
export * from './roaming-client.js';
