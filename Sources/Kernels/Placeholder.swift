
import COpenBLAS
