// SPDX-License-Identifier: Apache-2.0
// A real MQTT 3.1.1-only broker for the MQTT bridge's tests: aedes (npm,
// pinned by tests/peers/package-lock.json), which answers an MQTT 5 CONNECT
// with a 3.1.1 CONNACK "unacceptable protocol version" as such brokers do.
// Listens on 127.0.0.1:PORT and prints "listening PORT" once it does; every
// CONNECT is printed as "connect <client id> v<protocol version>".
//
// Usage: node aedes-broker.mjs PORT   (NODE_PATH: tests/peers/node_modules)
import { createServer } from 'node:net'
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.FG_PEERS_DIR || '.', 'package.json'))
const { Aedes } = await import(require.resolve('aedes'))

const port = Number(process.argv[2])
const broker = await Aedes.createBroker()
broker.on('connackSent', (packet, client) => {
  console.log('connack %s %d', client && client.id, packet.returnCode)
})
broker.preConnect = (client, packet, done) => {
  console.log('connect %s v%d', packet.clientId, packet.protocolVersion)
  done(null, true)
}
const server = createServer(broker.handle)
server.listen(port, '127.0.0.1', () => console.log('listening %d', port))
process.on('SIGTERM', () => { server.close(); broker.close(() => process.exit(0)) })
