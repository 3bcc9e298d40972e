// Starts kinesalite on 127.0.0.1 only (its own command line listens on every interface).
// Usage: node kinesis_server.js PORT
'use strict'
const kinesalite = require('kinesalite')

const port = Number.parseInt(process.argv[2], 10)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`usage: node kinesis_server.js PORT (got ${process.argv[2]})`)
  process.exit(2)
}
// No artificial CREATING/UPDATING delays; a shard limit far above what the local profiles use.
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 500 })
server.on('error', (err) => {
  console.error(`kinesalite: cannot listen on 127.0.0.1:${port}: ${err.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => {
  console.log(`kinesalite listening on http://127.0.0.1:${server.address().port}`)
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)))
}
