"""Feature names of the data contract (paper notation in comments)."""

# --- video SequenceExample: context ---------------------------------------------------
VIDEO_ID = "video_id"
LABEL = "label"                # fine-grained action, "Activity:Action" (a_i)
LABEL_INDEX = "label_index"    # index into the label vocabulary
ACTIVITY = "activity"          # the high-level activity (the taxonomy's, else the part before ':')
DURATION = "duration"          # seconds
FPS = "fps"                    # sampling rate: time steps per second
NUM_FRAMES = "num_frames"      # T, the number of sampled frames (time steps)
SOURCE = "source"              # URI of the original file
SPLIT = "split"                # train / eval / test
GT_START = "gt_start"          # ground-truth segments (seconds), may be empty
GT_END = "gt_end"
GT_LABEL = "gt_label"          # label name per segment
GT_LABEL_INDEX = "gt_label_index"
AMBIGUOUS_START = "ambiguous_start"  # THUMOS14 Ambiguous segments (seconds), may be empty: detections
AMBIGUOUS_END = "ambiguous_end"      # on them are neither right nor wrong

# --- video SequenceExample: feature lists (one entry per time step) -------------------
FRAME_FEATURES = "frame_features"  # shared CNN representation of frame V_t
TIMESTAMP = "timestamp"            # presentation time of the sampled frame, seconds
LAF_SCORE = "laf_score"            # LAF(V) = CNN_i(V)[a], added by domain transfer

# --- image Example ----------------------------------------------------------------------
IMAGE_ID = "image_id"
IMAGE_FEATURES = "image_features"  # shared CNN representation of web image I
SHA256 = "sha256"                  # content hash (exact-duplicate removal)
# LABEL, LABEL_INDEX and SOURCE are shared with videos.

SPLITS = ("train", "eval", "test")

# --- TFX artifact type names (KFP v2 requires "<namespace>.<Title>") ---------------------
LABEL_VOCABULARY_TYPE = "laf.LabelVocabulary"
DOMAIN_TRANSFER_ROUNDS_TYPE = "laf.DomainTransferRounds"
