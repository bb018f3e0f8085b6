import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { journalContract } from '../helpers/journal-contract.js';
import { cluster, uniqueLocation } from './cluster.js';

journalContract('JetStreamJournal (3-node R3 cluster)', {
  create: async (name, hooks) => {
    const { urls } = await cluster();
    const journal = await JetStreamJournal.open(name, {
      servers: urls,
      ...uniqueLocation('contract'),
      hooks,
    });
    return { journal, stats: () => journal.stats };
  },
});
