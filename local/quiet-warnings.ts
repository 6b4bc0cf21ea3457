/**
 * The AWS SDK warns once per process on Node < 22 that SDK releases published after early 2027 will
 * need Node 22 (NodeVersionSupportWarning). The SDK pinned here supports Node 20, and Lambda runs Node
 * 22, so a local command has nothing to act on: it turns the notice off the way the SDK offers (an
 * environment variable it reads), unless the variable is set already. Imported first by the local commands.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
