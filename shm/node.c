/*
 * node.c - what the validated node accessor (hl_node_get, shm.h) says
 * about a node it refuses, for the checkers and `helios check`.
 *
 * The accessor itself is inline in shm.h: it sits on every restore, read
 * and diff path, a handful of compares per level. Its rules are one table,
 * hl_node_rule, one row per kind:
 *
 *   kind   level          count       payload bytes        aux
 *   leaf   0              0           chunk_bytes          -
 *   inner  1..LEVELS-1    1..FANOUT   8 x count (offsets)  -
 *   root   0..LEVELS-1    1           24 (hash, offset)    state size
 *
 * Invariants:
 *  1. A node hl_node_get returns lies wholly inside the heap: header and
 *     exactly the payload its kind carries, so a reader may read every
 *     byte of that payload and no byte past it.
 *  2. Nodes are immutable once published, so a node validated once stays
 *     valid for as long as it is not freed (epochs, with the collector).
 */
#include "shm.h"

const char *hl_node_fault_str(enum hl_node_fault f)
{
	switch (f) {
	case HL_NODE_OK:
		return "well formed";
	case HL_NODE_F_OUTSIDE:
		return "not a node inside the heap";
	case HL_NODE_F_KIND:
		return "unknown kind, or not the kind expected";
	case HL_NODE_F_LEVEL:
		return "level outside its kind's range, or not the level expected";
	case HL_NODE_F_COUNT:
		return "child count outside its kind's range";
	case HL_NODE_F_PAYLOAD:
		return "payload length is not what its kind and count carry";
	case HL_NODE_F_AUX:
		return "state size of 0 or past the limit";
	case HL_NODE_F_PAST_HEAP:
		return "payload runs past the heap";
	}
	return "unknown fault";
}
