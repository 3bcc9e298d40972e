// Starts kinesalite on 127.0.0.1 only (its own command line listens on every interface).
// Usage: node kinesis_server.js PORT
'use strict'

// kinesalite 3.3.3 never answers GetShardIterator AT_TIMESTAMP when no record in the shard arrived
// at or after the timestamp (a lazy scan whose head never comes); real Kinesis then returns an
// iterator at the tip. Answer as Kinesis does: such a call is handed on as LATEST. This must be in
// place before kinesalite loads its actions.
const actionPath = require.resolve('kinesalite/actions/getShardIterator')
const getShardIterator = require(actionPath)
const db = require('kinesalite/db')
require.cache[actionPath].exports = function getShardIteratorAtTip(store, data, cb) {
  const shardIx = typeof data.ShardId === 'string' ? Number.parseInt(data.ShardId.split('-')[1], 10) : NaN
  if (data.ShardIteratorType !== 'AT_TIMESTAMP' || data.Timestamp == null || !(shardIx >= 0) ||
      data.Timestamp * 1000 > Date.now()) {
    return getShardIterator(store, data, cb) // including its own errors for a missing or future timestamp
  }
  const range = { gt: db.shardIxToHex(shardIx), lt: db.shardIxToHex(shardIx + 1) }
  db.lazy(store.getStreamDb(data.StreamName).createReadStream(range), cb)
    .filter((item) => item.value.ApproximateArrivalTimestamp >= data.Timestamp)
    .take(1)
    .join((found) => {
      if (found.length) return getShardIterator(store, data, cb)
      const atTip = Object.assign({}, data, { ShardIteratorType: 'LATEST' })
      delete atTip.Timestamp
      getShardIterator(store, atTip, cb)
    })
}

const kinesalite = require('kinesalite')

const port = Number.parseInt(process.argv[2], 10)
// Loopback unless told otherwise: only the compose image passes 0.0.0.0 (inside its container,
// whose port is published on the host's 127.0.0.1 only).
const host = process.argv[3] || '127.0.0.1'
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`usage: node kinesis_server.js PORT [HOST] (got ${process.argv[2]})`)
  process.exit(2)
}
// No artificial CREATING/UPDATING delays; a shard limit far above what the local profiles use.
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 500 })
server.on('error', (err) => {
  console.error(`kinesalite: cannot listen on ${host}:${port}: ${err.message}`)
  process.exit(1)
})
server.listen(port, host, () => {
  console.log(`kinesalite listening on http://${host}:${server.address().port}`)
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)))
}
