import { MemoryStore } from '../../src/store/memory'
import { describeStore } from './suite'

describeStore('memory', { create: async (options) => new MemoryStore(options) })
