// Starts kinesis-mock (npm kinesis-local), the local Kinesis that speaks SubscribeToShard (enhanced
// fan-out), on 127.0.0.1 only: its server binds every interface, with no option to change that, so
// every listen() of this process is pinned to loopback before it loads.
// Usage: node kinesis_mock_server.js PORT   (plain http on PORT; its TLS port: any free one)
'use strict'

const net = require('net')
const port = Number.parseInt(process.argv[2], 10)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`usage: node kinesis_mock_server.js PORT (got ${process.argv[2]})`)
  process.exit(2)
}
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function listenOnLoopback (...args) {
  if (args[0] !== null && typeof args[0] === 'object') {
    args[0] = Object.assign({}, args[0], { host: '127.0.0.1' })
  } else if (typeof args[1] === 'string') {
    args[1] = '127.0.0.1'
  } else {
    args.splice(1, 0, '127.0.0.1')
  }
  return listen.apply(this, args)
}
process.env.KINESIS_MOCK_PLAIN_PORT = String(port)
process.env.KINESIS_MOCK_TLS_PORT = '0'
process.env.KINESIS_MOCK_CERT_PATH = require.resolve('kinesis-local/server.json')
// no artificial CREATING/UPDATING delays (kinesalite's launcher does the same)
for (const name of ['CREATE_STREAM', 'DELETE_STREAM', 'REGISTER_STREAM_CONSUMER', 'DEREGISTER_STREAM_CONSUMER',
  'MERGE_SHARDS', 'SPLIT_SHARD', 'UPDATE_SHARD_COUNT']) {
  process.env[`${name}_DURATION`] = process.env[`${name}_DURATION`] || '0ms'
}
process.env.SHARD_LIMIT = process.env.SHARD_LIMIT || '500'
require('kinesis-local/main.js')
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0))
}
