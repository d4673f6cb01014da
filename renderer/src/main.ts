import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import './styles.css'
import { connectElectron, connectWebSocket, hasElectronPreload } from './platform/transport'
import { getDesktop } from './platform/desktop'
import { setDesktop, setEngineClient } from './stores/client'
import { useEngineStore } from './stores/engine'
import { startRouter } from './router'

const pinia = createPinia()
const app = createApp(App).use(pinia)

setDesktop(getDesktop())
const conn = hasElectronPreload()
  ? connectElectron((reason) => useEngineStore(pinia).engineRestarted(reason))
  : connectWebSocket()
setEngineClient(conn)

const engineStore = useEngineStore(pinia)
engineStore.transport = conn.kind
engineStore.setConnection(conn.state())
conn.onState((s, reason) => engineStore.setConnection(s, reason))
conn.on('engine.restarted', (e) => engineStore.engineRestarted(e.reason))

startRouter()
app.mount('#app')
