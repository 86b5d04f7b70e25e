// The inventory when none is configured (no file, no cluster yet): synced at once, with no pods.
// The agent still attaches its programs and answers /status, so `weft agent` with zero config is
// a working, inspectable agent that meshes nothing until told about pods.
import type { InventoryListener, InventorySource, InventorySourceStatus } from '../inventory/types.ts';

export class EmptyInventorySource implements InventorySource {
  readonly id = 'none';
  #synced = false;

  start(listener: InventoryListener): void {
    this.#synced = true;
    listener({ kind: 'reset', pods: [], namespaces: [] });
  }

  get synced(): boolean {
    return this.#synced;
  }

  status(): InventorySourceStatus {
    return {
      source: 'none (set inventory.file or WEFT_INVENTORY_FILE)', synced: this.#synced, pods: 0, namespaces: 0,
      lastGoodAt: undefined, error: undefined, otherNodePods: 0,
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
